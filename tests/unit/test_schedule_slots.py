"""Schedule slots: cron in a time zone, daylight-saving days, hourly schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.errors import GraphValidationError
from orchestrator.graph import Graph, Step, task
from orchestrator.schedules import iter_slots, latest_slot, next_slot

BERLIN = ZoneInfo("Europe/Berlin")


@task("test_schedule_noop")
async def _noop(ctx: object) -> None:
    return None


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_slots_daily_berlin_spring_forward_runs_after_gap() -> None:
    """02:30 does not exist on 29 March 2026 in Berlin: that day runs at 03:00."""
    slots = list(iter_slots("30 2 * * *", BERLIN, _utc(2026, 3, 27), _utc(2026, 3, 31)))

    assert slots == [
        _utc(2026, 3, 27, 1, 30),
        _utc(2026, 3, 28, 1, 30),
        _utc(2026, 3, 29, 1, 0),
        _utc(2026, 3, 30, 0, 30),
    ]
    assert slots[2].astimezone(BERLIN).strftime("%H:%M") == "03:00"


def test_slots_daily_berlin_fall_back_runs_once_at_first_occurrence() -> None:
    """02:30 happens twice on 25 October 2026 in Berlin: the slot runs once, first."""
    slots = list(
        iter_slots("30 2 * * *", BERLIN, _utc(2026, 10, 23), _utc(2026, 10, 27))
    )

    assert slots == [
        _utc(2026, 10, 23, 0, 30),
        _utc(2026, 10, 24, 0, 30),
        _utc(2026, 10, 25, 0, 30),
        _utc(2026, 10, 26, 1, 30),
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (_utc(2026, 3, 28, 20), _utc(2026, 3, 29, 6)),
        (_utc(2026, 10, 24, 20), _utc(2026, 10, 25, 6)),
    ],
)
def test_slots_hourly_fire_on_every_utc_hour_across_dst(
    start: datetime, end: datetime
) -> None:
    """An hourly schedule fires on every UTC hour on both change days."""
    slots = list(iter_slots("0 * * * *", BERLIN, start, end))

    expected = [start + timedelta(hours=h) for h in range(1, 11)]
    assert slots == expected


def test_slots_every_day_of_a_year_once() -> None:
    """A daily local schedule yields exactly one slot per local day all year."""
    slots = list(
        iter_slots("30 2 * * *", BERLIN, _utc(2025, 12, 31, 12), _utc(2026, 12, 31, 12))
    )

    days = [s.astimezone(BERLIN).date() for s in slots]
    assert len(days) == 365
    assert len(set(days)) == 365


def test_latest_and_next_slot_of_weekly_schedule() -> None:
    """The weekly digest's slots are Mondays 09:00; latest at or before, next after."""
    at = _utc(2026, 12, 3, 12)

    assert latest_slot("0 9 * * 1", ZoneInfo("UTC"), at) == _utc(2026, 11, 30, 9)
    assert next_slot("0 9 * * 1", ZoneInfo("UTC"), at) == _utc(2026, 12, 7, 9)
    assert latest_slot("0 9 * * 1", ZoneInfo("UTC"), _utc(2026, 11, 30, 9)) == _utc(
        2026, 11, 30, 9
    )


def test_slots_with_seconds_field() -> None:
    """A six-field expression (seconds last) gives one slot per second."""
    slots = list(
        iter_slots(
            "* * * * * *", ZoneInfo("UTC"), _utc(2026, 1, 1), _utc(2026, 1, 1, 0, 0, 3)
        )
    )

    assert slots == [_utc(2026, 1, 1, 0, 0, s) for s in (1, 2, 3)]


@pytest.mark.parametrize("expression", ["61 * * * *", "daily", "* * *", "0 25 * * *"])
def test_graph_invalid_cron_names_the_expression(expression: str) -> None:
    """A graph with an invalid schedule is refused, naming the expression."""
    with pytest.raises(GraphValidationError, match="not a valid cron expression"):
        Graph("bad_schedule", [Step("a", "test_schedule_noop")], schedule=expression)
