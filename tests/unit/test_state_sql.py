"""Quoting of the one statement the engine sends with literals."""

from __future__ import annotations

import pytest

from orchestrator.state import sql_literal


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "E'plain'"),
        ("it's", "E'it\\'s'"),
        ("back\\slash", "E'back\\\\slash'"),
        ("\\'", "E'\\\\\\''"),
    ],
)
def test_sql_literal_escapes_quotes_and_backslashes(value: str, literal: str) -> None:
    assert sql_literal(value) == literal


def test_sql_literal_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        sql_literal("a\x00b")
