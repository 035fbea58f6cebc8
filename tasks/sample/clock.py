"""Time in the sample: integer seconds since the epoch, UTC, and the windows used."""

from datetime import UTC, datetime
from random import Random

DAY_S = 86_400
WINDOW_DAYS = 90
"""Evaluations and judgments cover the 90 days before ``now``."""

CORRECTION_WINDOW_DAYS = 14
"""Most corrections fall in the window cluster_corrections fetches."""

_HOUR_WEIGHTS = (
    *(0.08, 0.06, 0.05, 0.05, 0.06, 0.1, 0.25, 0.5),
    *(0.8, 1.0, 1.0, 0.95, 0.85, 0.95, 1.0, 0.95),
    *(0.85, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12, 0.1),
)
_WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 0.95, 0.85, 0.35, 0.25)
"""Monday first; the epoch fell on a Thursday, hence the offset of 3 below."""


def sample_time(rng: Random, start_s: int, end_s: int) -> int:
    """Draw a second in [start_s, end_s), denser on weekdays and in office hours."""
    while True:
        at_s = rng.randrange(start_s, end_s)
        day, second = divmod(at_s, DAY_S)
        weight = _WEEKDAY_WEIGHTS[(day + 3) % 7] * _HOUR_WEIGHTS[second // 3600]
        if rng.random() < weight:
            return at_s


def iso(at_s: int) -> str:
    """Format a second as an ISO 8601 timestamp in UTC."""
    return datetime.fromtimestamp(at_s, UTC).isoformat()
