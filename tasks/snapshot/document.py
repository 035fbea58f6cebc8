"""Reading a snapshot document and checking its shape, with its error type."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tasks.snapshot.records import Snapshot

# Problems shown in a SnapshotError's message; ``errors`` keeps them all.
SHOWN_ERRORS = 20


class SnapshotError(Exception):
    """A snapshot document was refused; ``errors`` lists every problem found.

    Each entry reads ``path: message``, where the path points into the document
    (``rules[3].derives_from[0]``). Nothing of a refused document is written.
    """

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        shown = "\n  ".join(self.errors[:SHOWN_ERRORS])
        more = len(self.errors) - SHOWN_ERRORS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        count = len(self.errors)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"the snapshot was not loaded: {count} {noun}:\n  {shown}{tail}"
        )


def read_snapshot_file(path: Path | str) -> dict[str, Any]:
    """Read a snapshot document from a JSON file.

    Raises:
        SnapshotError: the file cannot be read, is not UTF-8 JSON (the message
            gives the line and column), or does not hold a JSON object.
    """
    try:
        with Path(path).open(encoding="utf-8") as stream:
            data = json.load(stream)
    except json.JSONDecodeError as exc:
        problem = f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: "
        raise SnapshotError([problem + exc.msg]) from exc
    except UnicodeDecodeError as exc:
        problem = f"{path}: not UTF-8 text (byte {exc.start}): {exc.reason}"
        raise SnapshotError([problem]) from exc
    except OSError as exc:
        problem = f"{path}: cannot be read: {exc.strerror or exc}"
        raise SnapshotError([problem]) from exc
    if not isinstance(data, dict):
        problem = f"{path}: a snapshot is a JSON object, got a {type(data).__name__}"
        raise SnapshotError([problem])

    return data


def parse_snapshot(data: Mapping[str, Any]) -> Snapshot:
    """Check a document's shape and build its records.

    Raises:
        SnapshotError: with one ``path: message`` entry per field in error.
    """
    if not isinstance(data, Mapping):
        keys = ", ".join(Snapshot.model_fields)
        msg = f"(document): a snapshot is a JSON object with the keys {keys}"
        raise SnapshotError([msg])
    try:
        return Snapshot.model_validate(dict(data))
    except ValidationError as exc:
        raise SnapshotError([_format_pydantic_error(e) for e in exc.errors()]) from None


def _format_pydantic_error(error: Mapping[str, Any]) -> str:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    message = error["msg"]
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    elif error["type"] not in ("missing", "extra_forbidden"):
        message += f" (got {json.dumps(error.get('input'), default=str)[:60]})"

    return f"{path or '(document)'}: {message}"
