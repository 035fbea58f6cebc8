"""The sample snapshot document: every part assembled, and written to a file."""

import json
import logging
from datetime import datetime
from math import floor
from pathlib import Path
from random import Random
from typing import Any

from tasks.sample.activity import draw_activity
from tasks.sample.canaries import draw_canaries
from tasks.sample.catalogue.norms import AMENDED_NORMS, NORMS
from tasks.sample.catalogue.phrases import LOCALES
from tasks.sample.corrections import draw_corrections
from tasks.sample.plans import plan_rules
from tasks.sample.rules import draw_rule_records

logger = logging.getLogger(__name__)


def _norm_records() -> list[dict[str, Any]]:
    records = []
    for head, title, text in NORMS:
        norm_id, _, parents = head.partition("<")
        norm_id = norm_id.strip()
        records.append(
            {
                "id": norm_id,
                "title": title,
                "text": text,
                "version": AMENDED_NORMS.get(norm_id, 1),
                "derives_from": parents.split(),
            }
        )

    return records


def generate_sample(
    *, now: datetime, seed: int = 7, rules: int = 320
) -> dict[str, Any]:
    """Generate a sample repository whose history leads up to ``now``.

    Args:
        now: The logical present, timezone-aware; every timestamp falls before it
            and evaluations and judgments within the 90 days before it.
        seed: Seeds the one random generator everything is drawn from.
        rules: How many rules to write. The default gives about 90,000 evaluations;
            the corrections and norms do not scale with it.

    Returns:
        A snapshot dict in the format of DESIGN §6, ready for ``json.dumps``.

    Raises:
        ValueError: ``now`` is naive or ``rules`` is below 1.
    """
    if now.utcoffset() is None:
        msg = f"now must be timezone-aware, got {now.isoformat()}; pass tzinfo=UTC"
        raise ValueError(msg)
    if rules < 1:
        msg = f"rules must be at least 1, got {rules}"
        raise ValueError(msg)
    rng = Random(seed)
    now_s = floor(now.timestamp())

    plans = plan_rules(rng, now_s, rules)
    rule_records = draw_rule_records(plans, rng, now_s)
    activity = draw_activity(plans, rng, now_s)

    return {
        "locales": list(LOCALES),
        "norms": _norm_records(),
        "rules": rule_records,
        "evaluations": activity.evaluations,
        "judgments": activity.judgments,
        "corrections": draw_corrections(plans, activity, rng, now_s),
        "canaries": draw_canaries(plans, rng),
    }


def write_sample(path: Path, **kw: Any) -> Path:
    """Write ``generate_sample(**kw)`` to ``path`` as UTF-8 JSON and return the path."""
    snapshot = generate_sample(**kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot, ensure_ascii=False), encoding="utf-8")
    logger.info(
        "sample repository written to %s: %d rules, %d evaluations",
        path,
        len(snapshot["rules"]),
        len(snapshot["evaluations"]),
        extra={"event": "sample.written"},
    )

    return path
