"""Per-rule figures shared by the jobs: false-positive rate, effectiveness, deny share.

Each figure comes in two forms that agree: a SQL fragment that computes it for
every rule in one ``GROUP BY`` (the jobs are set-based: one query over all rules,
never one per rule), and a pure function over counts that the jobs' decisions use.
Threshold decisions compare counts with integers (``fp * 100 < 5 * judgments``)
rather than rounded rates, so a rate of exactly 5% is exactly 5%.

The SQL fragments take the names of their bind parameters, so that one query can
use several windows: ``judgment_counts("t")`` counts every judgment before
``:t``; ``judgment_counts("t", "since")`` those in ``[:since, :t)``.
"""

from __future__ import annotations

from fractions import Fraction

FALSE_POSITIVE = "false_positive"
CORRECT = "correct"
DENY = "deny"

# Dimension defaults when there is nothing to measure (DESIGN §4).
NO_JUDGMENTS_SCORE = 50.0


def _between(column: str, until: str, since: str | None) -> str:
    lower = f" AND {column} >= :{since}" if since else ""

    return f"{column} < :{until}{lower}"


def judgment_counts(until: str, since: str | None = None) -> str:
    """SQL: ``rule_id, judgments, false_positives, correct`` per rule with judgments.

    Judgments created before ``:until`` (and at or after ``:since`` when given).
    """
    return f"""
        SELECT rule_id,
               count(*) AS judgments,
               count(*) FILTER (WHERE outcome = '{FALSE_POSITIVE}') AS false_positives,
               count(*) FILTER (WHERE outcome = '{CORRECT}') AS correct
        FROM judgments
        WHERE {_between("created_at", until, since)}
        GROUP BY rule_id
    """


def verdict_counts(until: str, since: str | None = None) -> str:
    """SQL: ``rule_id, evaluations, denies`` per rule with evaluations in the window."""
    return f"""
        SELECT rule_id,
               count(*) AS evaluations,
               count(*) FILTER (WHERE verdict = '{DENY}') AS denies
        FROM evaluations
        WHERE {_between("created_at", until, since)}
        GROUP BY rule_id
    """


def fp_rate_sql(alias: str) -> str:
    """SQL: the false-positive rate (0 to 1) from ``judgment_counts`` columns."""
    return (
        f"COALESCE({alias}.false_positives::float8 / NULLIF({alias}.judgments, 0), 0)"
    )


def effectiveness_sql(alias: str) -> str:
    """SQL: effectiveness (0 to 100, 50 without judgments) from ``judgment_counts``."""
    return (
        f"COALESCE(100.0 * {alias}.correct / NULLIF({alias}.judgments, 0),"
        f" {NO_JUDGMENTS_SCORE})"
    )


def deny_share_sql(alias: str) -> str:
    """SQL: the deny share (0 to 1, NULL without evaluations) from ``verdict_counts``."""
    return f"({alias}.denies::float8 / NULLIF({alias}.evaluations, 0))"


def fp_rate(false_positives: int, judgments: int) -> float:
    """False positives ÷ judgments; 0 with no judgments."""
    return false_positives / judgments if judgments else 0.0


def effectiveness(correct: int, judgments: int) -> float:
    """100 x correct ÷ judgments; 50 with no judgments."""
    return 100.0 * correct / judgments if judgments else NO_JUDGMENTS_SCORE


def deny_share(denies: int, evaluations: int) -> float | None:
    """Denies ÷ evaluations; ``None`` with no evaluations."""
    return denies / evaluations if evaluations else None


def share_above(count: int, total: int, percent: int | Fraction) -> bool:
    """Whether ``count / total`` is strictly above ``percent`` %; false when empty."""
    return total > 0 and count * 100 > percent * total


def share_below(count: int, total: int, percent: int | Fraction) -> bool:
    """Whether ``count / total`` is strictly below ``percent`` %; an empty share is 0."""
    return count * 100 < percent * total or (total == 0 and percent > 0)
