"""Validated input types shared by the request models and parameters.

Everything a caller sends is checked here before it reaches PostgreSQL, so that a
value the database would reject (a NUL character, a lone surrogate, a number past
``bigint``, an instant outside the years PostgreSQL and Python agree on) is a 422
with a reason instead of a server error.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, JsonValue

MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1
MAX_PARAMS_DEPTH = 16
EARLIEST_YEAR = 1970
LATEST_YEAR = 2999


def storable_text(value: str) -> str:
    """Refuse text PostgreSQL cannot store: NUL characters and lone surrogates."""
    if "\x00" in value:
        msg = "text must not contain NUL characters"
        raise ValueError(msg)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        msg = "text must be valid Unicode (it holds a lone surrogate)"
        raise ValueError(msg) from None
    return value


def single_line(value: str) -> str:
    """Refuse control characters in names and identifiers."""
    storable_text(value)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        msg = "must be one line without control characters"
        raise ValueError(msg)
    if not value.strip():
        msg = "must not be blank"
        raise ValueError(msg)
    return value


def bounded_time(value: datetime) -> datetime:
    """Normalise to UTC, refusing instants outside the years 1970 to 2999."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_YEAR <= utc.year <= LATEST_YEAR:
        msg = (
            f"time {value.isoformat()} is out of range; use an instant between "
            f"{EARLIEST_YEAR} and {LATEST_YEAR}"
        )
        raise ValueError(msg)
    return utc


def json_params(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse parameters JSONB cannot hold: NaN, infinities, NUL, deep nesting."""
    _check_json(value, 0)
    return value


def _check_json(value: Any, depth: int) -> None:
    if depth > MAX_PARAMS_DEPTH:
        msg = f"parameters nest deeper than {MAX_PARAMS_DEPTH} levels"
        raise ValueError(msg)
    if isinstance(value, float) and not math.isfinite(value):
        msg = "parameters must not hold NaN or infinite numbers"
        raise ValueError(msg)
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(key)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


Name = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"),
    AfterValidator(single_line),
]
"""A person's or a process's name, a graph name, a rule or norm id."""

StepKey = Annotated[
    str,
    Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$"),
    AfterValidator(single_line),
]
ProposalId = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"),
    AfterValidator(single_line),
]
Note = Annotated[str, Field(max_length=2000), AfterValidator(storable_text)]
Summary = Annotated[
    str, Field(min_length=1, max_length=2000), AfterValidator(storable_text)
]
Instant = Annotated[AwareDatetime, AfterValidator(bounded_time)]
"""An ISO 8601 instant with a zone (e.g. ``2026-12-01T05:00:00Z``)."""

Params = Annotated[dict[str, JsonValue], AfterValidator(json_params)]
AlertId = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
Version = Annotated[int, Field(ge=1, le=MAX_INT)]
