"""Windows measured back from the logical time: [T - N x 24 h, T)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tasks.correction_stats import hour_before
from tasks.windows import DAY, days_between, in_window, window

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize("days", [7, 30, 90])
def test_window_includes_its_start_and_excludes_t(days: int) -> None:
    """Exactly N days before T is inside; a second earlier, and T itself, are not."""
    bounds = window(T, days)

    assert bounds == (T - timedelta(hours=24 * days), T)
    assert in_window(T - days * DAY, bounds)
    assert not in_window(T - days * DAY - SECOND, bounds)
    assert not in_window(T, bounds)
    assert in_window(T - SECOND, bounds)


def test_window_counts_hours_across_daylight_saving() -> None:
    """A window ending in a zone with a DST change still spans N x 24 hours."""
    paris = datetime(2026, 3, 30, 2, 0, tzinfo=ZoneInfo("Europe/Paris"))

    start, end = window(paris, 7)

    assert end - start == timedelta(hours=168)
    assert end == paris


def test_window_refuses_a_naive_time() -> None:
    """A logical time without a zone is an error naming it."""
    with pytest.raises(ValueError, match="has no time zone"):
        window(datetime(2026, 3, 2), 7)


def test_hour_before_is_the_hour_ending_at_t() -> None:
    """The correction-stats bucket is [T - 1 h, T)."""
    assert hour_before(T) == (T - timedelta(hours=1), T)


def test_days_between_counts_fractional_days() -> None:
    """Days between two instants are 24-hour days, negative backwards."""
    assert days_between(T - 36 * timedelta(hours=1), T) == 1.5
    assert days_between(T, T - DAY) == -1.0
