"""Time windows measured back from a run's logical time T (DESIGN §4).

"The N days before T" is the half-open interval ``[T - N x 24 h, T)``: a record
exactly N days before T is inside, one a second earlier is not, and one at T
itself is not. Windows are counted in hours, never in calendar days, so a
daylight-saving change in ``SCHEDULE_TIMEZONE`` does not stretch or shrink them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY = timedelta(hours=24)


def window(t: datetime, days: int) -> tuple[datetime, datetime]:
    """The ``days`` days before ``t``: ``(t - days x 24 h, t)``, start included.

    Both ends are returned in UTC, where subtracting hours is exact whatever the
    zone ``t`` was given in.
    """
    if t.tzinfo is None:
        msg = f"logical time {t.isoformat()} has no time zone; windows need one"
        raise ValueError(msg)
    if days < 0:
        msg = f"a window covers a non-negative number of days, got {days}"
        raise ValueError(msg)

    end = t.astimezone(UTC)

    return end - days * DAY, end


def in_window(at: datetime, bounds: tuple[datetime, datetime]) -> bool:
    """Whether ``at`` falls in ``[start, end)``."""
    start, end = bounds

    return start <= at < end


def days_between(start: datetime, end: datetime) -> float:
    """``end - start`` in days of 24 hours (negative when ``end`` is earlier)."""
    return (end - start) / DAY
