"""The drift and shift decisions on both sides of every threshold, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from tasks.similarity import is_below_threshold
from tasks.verdict_distribution import VerdictShares, has_shifted
from tasks.verdict_drift import ReplayFigures, drift_reasons

BEFORE = datetime(2026, 11, 29, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("score", "below"),
    [
        (0.75, False),
        (float(np.float32(0.75)), False),
        (0.7499999999, False),
        (0.7499, True),
        (0.0, True),
        (0.9, False),
    ],
)
def test_similarity_threshold_is_strictly_below_075(score, below) -> None:
    """0.75 is not below the threshold, 0.7499 is; float32 noise rounds away."""
    assert is_below_threshold(score) is below


def figures(
    evaluable: int,
    differing: int = 0,
    denies: int = 0,
    previous: tuple[int, int] | None = None,
    replays: int | None = None,
) -> ReplayFigures:
    previous_evaluable, previous_denies = previous or (0, 0)
    return ReplayFigures(
        rule_id="R",
        replays=evaluable if replays is None else replays,
        evaluable=evaluable,
        differing=differing,
        denies=denies,
        previous_at=BEFORE if previous else None,
        previous_evaluable=previous_evaluable,
        previous_denies=previous_denies,
    )


@pytest.mark.parametrize(
    ("case", "reasons"),
    [
        (figures(4, differing=4), []),
        (figures(5, differing=1), []),
        (figures(5, differing=2), ["verdicts_differ"]),
        (figures(10, differing=2), []),
        (figures(9, differing=2), ["verdicts_differ"]),
        (figures(100, differing=20), []),
        (figures(100, differing=21), ["verdicts_differ"]),
    ],
)
def test_verdicts_drift_above_twenty_percent_with_five_canaries(case, reasons) -> None:
    """4 canaries never drift; 1 of 5 (20%) does not, 2 of 5 and 2 of 9 do."""
    assert drift_reasons(case) == reasons


@pytest.mark.parametrize(
    ("case", "reasons"),
    [
        (figures(5, denies=2, previous=(5, 1)), ["deny_share_moved"]),
        (figures(5, denies=3, previous=(5, 2)), ["deny_share_moved"]),
        (figures(5, denies=0, previous=(5, 1)), ["deny_share_moved"]),
        (figures(10, denies=4, previous=(5, 1)), ["deny_share_moved"]),
        (figures(21, denies=4, previous=(5, 0)), []),
        (figures(18, denies=7, previous=(5, 1)), []),
        (figures(5, denies=5, previous=(4, 0)), []),
        (figures(5, denies=5), []),
    ],
)
def test_deny_share_moving_by_02_or_more_drifts(case, reasons) -> None:
    """A move of exactly 0.2 drifts (0.6 - 0.4 too); 4/21 and 0.189 do not."""
    assert drift_reasons(case) == reasons


def test_not_evaluable_replays_do_not_count() -> None:
    """Five canaries of which one is not evaluable leave four: no drift."""
    case = figures(4, differing=4, denies=4, previous=(5, 0), replays=5)

    assert drift_reasons(case) == []
    assert case.deny_share == 1


def test_both_reasons_can_apply_at_once() -> None:
    """Verdicts differing and a moved share are both named."""
    case = figures(5, differing=5, denies=5, previous=(5, 0))

    assert drift_reasons(case) == ["verdicts_differ", "deny_share_moved"]


def shares(recent: tuple[int, int], baseline: tuple[int, int]) -> VerdictShares:
    return VerdictShares("R", recent[0], recent[1], baseline[0], baseline[1])


@pytest.mark.parametrize(
    ("case", "shifted"),
    [
        (shares((5, 2), (10, 2)), True),
        (shares((5, 3), (5, 2)), True),
        (shares((10, 0), (5, 1)), True),
        (shares((21, 4), (5, 0)), False),
        (shares((100, 39), (100, 20)), False),
        (shares((100, 40), (100, 20)), True),
        (shares((4, 4), (30, 0)), False),
        (shares((30, 30), (4, 0)), False),
    ],
)
def test_verdict_shift_needs_a_move_of_02_and_five_evaluations(case, shifted) -> None:
    """Exactly 0.2 either way shifts, 0.19 does not, fewer than 5 never does."""
    assert has_shifted(case) is shifted
