"""Keyset pagination: opaque cursors and the page envelope every list returns.

A cursor is the sort key of the last item of a page, tagged with the listing it
belongs to, as URL-safe base64 of JSON. It is opaque to callers (not secret): a
cursor from another listing, or one that does not decode, is refused with 400.
The next page starts strictly after that key, so a page costs the same however
deep it is, and rows inserted meanwhile neither repeat nor shift the pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_CHARS = 1000


class CursorError(ValueError):
    """A cursor that this listing did not hand out."""


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back as ``cursor`` for more."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Cursor of the next page, or null on the last page."
    )


Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Page size (1 to {MAX_LIMIT})."),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_CHARS,
        description="The next_cursor of the previous page.",
    ),
]


def encode_cursor(listing: str, key: list[Any]) -> str:
    """The cursor that resumes ``listing`` after the item whose sort key is ``key``."""
    raw = json.dumps({"l": listing, "k": key}, separators=(",", ":")).encode()

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(listing: str, cursor: str, types: tuple[type, ...]) -> list[Any]:
    """The sort key a cursor of ``listing`` carries, each part of the given type.

    Raises:
        CursorError: the cursor is malformed or belongs to another listing.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        data = None
    if not isinstance(data, dict) or data.get("l") != listing:
        msg = (
            f"cursor {cursor[:40]!r} is not a cursor of this listing; pass the "
            "next_cursor of a previous page unchanged"
        )
        raise CursorError(msg)
    key = data.get("k")
    if (
        not isinstance(key, list)
        or len(key) != len(types)
        or not all(
            isinstance(part, kind) and not isinstance(part, bool)
            for part, kind in zip(key, types, strict=True)
        )
    ):
        msg = f"cursor {cursor[:40]!r} is damaged; start again without a cursor"
        raise CursorError(msg)
    return key


def page_of(
    listing: str, rows: list[T], limit: int, key: Any
) -> tuple[list[T], str | None]:
    """Split ``limit + 1`` fetched rows into a page and the cursor of the next one."""
    if len(rows) <= limit:
        return rows, None
    items = rows[:limit]

    return items, encode_cursor(listing, key(items[-1]))
