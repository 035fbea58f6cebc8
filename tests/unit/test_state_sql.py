"""Quoting of the one statement the engine sends with literals."""

from __future__ import annotations

import uuid

import pytest

from orchestrator.state import job_id_for, parse_job_id, sql_literal


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


@pytest.mark.parametrize(
    "step_key", ["plain", "with:colons:in:it", "it's a \\' test", "s00042"]
)
def test_parse_job_id_reads_back_what_job_id_for_wrote(step_key: str) -> None:
    """Run id, step key and attempt survive the job id, colons in the key included."""
    run_id = uuid.uuid4()

    assert parse_job_id(job_id_for(run_id, step_key, 12)) == (run_id, step_key, 12)


@pytest.mark.parametrize(
    "job_id",
    [
        "cron:schedule_tick:1700000000000",
        "dup-1",
        "rr:not-a-uuid:1:step",
        f"rr:{uuid.UUID(int=1)}:one:step",
        f"rr:{uuid.UUID(int=1)}:1:",
    ],
)
def test_parse_job_id_refuses_ids_that_are_not_attempts(job_id: str) -> None:
    """Ids of other jobs (cron ticks, hand-made ones) are not taken for attempts."""
    assert parse_job_id(job_id) is None
