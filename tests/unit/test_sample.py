"""The generated sample repository: shape, integrity and the behaviours it feeds."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from tasks.clustering import connected_clusters
from tasks.providers.local import HashingEmbedder
from tasks.sample import THEMES, generate_sample, write_sample
from tasks.snapshot import validate_snapshot

# A fractional second checks the window edges: nothing at or after ``NOW``.
NOW = datetime(2025, 6, 2, 6, 0, 0, 500_000, tzinfo=UTC)
KINDS = ("norms", "rules", "evaluations", "judgments", "corrections", "canaries")


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return generate_sample(now=NOW)


def at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def days_before(days: float) -> datetime:
    return NOW - timedelta(days=days)


def recent_unprocessed(sample: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for c in sample["corrections"]
        if c["status"] == "unprocessed" and at(c["created_at"]) >= days_before(14)
    ]


def test_generate_sample_is_deterministic_for_a_seed(sample: dict[str, Any]) -> None:
    """The same now, seed and size give the same document; another seed does not."""
    assert generate_sample(now=NOW) == sample
    assert generate_sample(now=NOW, seed=8, rules=40) != generate_sample(
        now=NOW, seed=9, rules=40
    )


def test_generate_sample_rejects_a_naive_now() -> None:
    """A now without a time zone is refused with a message naming the fix."""
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_sample(now=datetime(2025, 6, 2, 6, 0))


def test_sample_has_the_snapshot_keys(sample: dict[str, Any]) -> None:
    """The document has exactly the top-level keys of the snapshot format."""
    assert set(sample) == {"locales", *KINDS}
    assert set(sample["locales"]) >= {"en", "de", "fr", "es", "ja"}


def test_sample_passes_snapshot_validation(sample: dict[str, Any]) -> None:
    """The snapshot validator accepts the sample whole."""
    snapshot = validate_snapshot(sample)

    assert len(snapshot.rules) == len(sample["rules"])


def test_sample_counts_are_realistic(sample: dict[str, Any]) -> None:
    """Rules, scopes, locales, norms, activity and corrections reach their sizes."""
    rules = sample["rules"]
    judged_share = len(sample["judgments"]) / len(sample["evaluations"])

    assert len(rules) >= 300
    assert len({r["scope"] for r in rules}) >= 6
    assert {r["locale"] for r in rules} == {"en", "de", "fr"}
    assert {loc for r in rules for loc in r["required_locales"]} == set(
        sample["locales"]
    )
    assert 30 <= len(sample["norms"]) <= 60
    assert 60_000 <= len(sample["evaluations"]) <= 120_000
    assert 0.10 <= judged_share <= 0.20
    assert 400 <= len(sample["corrections"]) <= 1_500


def test_sample_activity_spans_the_90_days_before_now(sample: dict[str, Any]) -> None:
    """Evaluations and judgments fall in [now - 90 days, now), in every 10 days."""
    for kind in ("evaluations", "judgments"):
        times = [at(r["created_at"]) for r in sample[kind]]
        assert min(times) >= days_before(90)
        assert max(times) < NOW
    buckets = Counter(
        (NOW - at(e["created_at"])).days // 10 for e in sample["evaluations"]
    )

    assert set(buckets) == set(range(9))
    assert min(buckets.values()) > 0.5 * max(buckets.values())


def test_sample_timestamps_carry_a_zone(sample: dict[str, Any]) -> None:
    """Every timestamp parses as ISO 8601 with a zone and lies before now."""
    fields = ("created_at", "deprecated_at", "last_reviewed_at")
    stamps = [
        record[name]
        for kind in KINDS
        for record in sample[kind]
        for name in fields
        if record.get(name) is not None
    ]

    assert len(stamps) > len(sample["evaluations"])
    assert all(at(s).utcoffset() is not None and at(s) < NOW for s in stamps)


def test_sample_ids_are_unique_strings_per_kind(sample: dict[str, Any]) -> None:
    """Ids are unique strings within each kind, and norms and rules never share one."""
    for kind in KINDS:
        ids = [r["id"] for r in sample[kind]]
        assert all(isinstance(i, str) for i in ids)
        assert len(set(ids)) == len(ids), kind
    norm_ids = {n["id"] for n in sample["norms"]}

    assert norm_ids.isdisjoint(r["id"] for r in sample["rules"])


def test_sample_references_resolve(sample: dict[str, Any]) -> None:
    """Every evaluation, judgment, canary, correction and lineage id names a record."""
    norms = {n["id"] for n in sample["norms"]}
    rules = {r["id"] for r in sample["rules"]}
    evaluation_rule = {e["id"]: e["rule_id"] for e in sample["evaluations"]}

    assert set(evaluation_rule.values()) <= rules
    assert {j["evaluation_id"] for j in sample["judgments"]} <= set(evaluation_rule)
    assert {c["rule_id"] for c in sample["canaries"]} <= rules
    assert all(set(n["derives_from"]) <= norms for n in sample["norms"])
    assert all(set(r["derives_from"]) <= norms | rules for r in sample["rules"])
    for correction in sample["corrections"]:
        assert correction["rule_id"] is None or correction["rule_id"] in rules
        if correction["evaluation_id"] is not None:
            assert evaluation_rule[correction["evaluation_id"]] == correction["rule_id"]


def test_sample_lineage_is_an_acyclic_multilevel_hierarchy(
    sample: dict[str, Any],
) -> None:
    """Lineage has no cycle, norms nest four deep, and rules cite 1-2 norms."""
    lineage = nx.DiGraph()
    for record in sample["norms"] + sample["rules"]:
        lineage.add_edges_from((record["id"], p) for p in record["derives_from"])
    norms = {n["id"] for n in sample["norms"]}
    norm_lineage = lineage.subgraph(norms)
    cited = [[p for p in r["derives_from"] if p in norms] for r in sample["rules"]]
    from_rules = [r for r in sample["rules"] if not set(r["derives_from"]) <= norms]

    assert nx.is_directed_acyclic_graph(lineage)
    assert nx.dag_longest_path_length(norm_lineage) >= 3
    assert any(len(list(norm_lineage.successors(n))) > 1 for n in norms)
    assert all(1 <= len(c) <= 2 for c in cited)
    assert len(from_rules) >= 3


def usage_figures(sample: dict[str, Any]) -> dict[str, Counter[str]]:
    """Per rule: evaluations and denies (all, last 30 days) and judgment outcomes."""
    figures: defaultdict[str, Counter[str]] = defaultdict(Counter)
    evaluation_rule = {}
    for e in sample["evaluations"]:
        evaluation_rule[e["id"]] = e["rule_id"]
        rule = figures[e["rule_id"]]
        recent = at(e["created_at"]) >= days_before(30)
        rule["n"] += 1
        rule["n30"] += recent
        rule["deny"] += e["verdict"] == "deny"
        rule["deny30"] += recent and e["verdict"] == "deny"
    for j in sample["judgments"]:
        rule = figures[evaluation_rule[j["evaluation_id"]]]
        rule["judged"] += 1
        rule[j["outcome"]] += 1

    return figures


def test_sample_rules_trip_the_usage_thresholds(sample: dict[str, Any]) -> None:
    """Some active rules are dormant, deny mostly, never deny, or are noisy."""
    figures = usage_figures(sample)
    active = [r for r in sample["rules"] if r["status"] == "active"]
    usage = [figures[r["id"]] for r in active]

    def fp_rate(u: Counter[str]) -> float:
        return u["false_positive"] / u["judged"] if u["judged"] else 0.0

    assert sum(u["n30"] == 0 for u in usage) >= 5
    assert sum(u["n30"] > 0 and u["deny30"] / u["n30"] > 0.5 for u in usage) >= 3
    assert sum(u["n30"] >= 50 and u["deny"] == 0 for u in usage) >= 3
    assert sum(fp_rate(u) > 0.10 for u in usage) >= 5
    assert sum(u["judged"] >= 10 and u["correct"] < 0.3 * u["judged"] for u in usage)
    assert max(u["n"] for u in usage) >= 1_000


def test_sample_rules_trip_the_lifecycle_thresholds(sample: dict[str, Any]) -> None:
    """Rule ages, maturities, reviews, deprecations and translations vary as needed."""
    rules = sample["rules"]
    figures = usage_figures(sample)

    def age_days(rule: dict[str, Any]) -> float:
        return (NOW - at(rule["created_at"])) / timedelta(days=1)

    def overdue_days(rule: dict[str, Any]) -> float:
        last = at(rule["last_reviewed_at"] or rule["created_at"])
        due = last + timedelta(days=rule["review_interval_days"])
        return (NOW - due) / timedelta(days=1)

    long_deprecated = [
        r
        for r in rules
        if r["status"] == "deprecated" and at(r["deprecated_at"]) <= days_before(90)
    ]
    promotable = [
        r
        for r in rules
        if r["maturity"] == "experimental"
        and age_days(r) >= 30
        and figures[r["id"]]["n"] >= 20
        and figures[r["id"]]["false_positive"] == 0
    ]
    translations = [(r, t) for r in rules for t in r["translations"]]
    missing = [
        (r, loc)
        for r in rules
        for loc in r["required_locales"]
        if loc != r["locale"] and loc not in {t["locale"] for t in r["translations"]}
    ]

    assert min(age_days(r) for r in rules) < 30 < 600 < max(age_days(r) for r in rules)
    assert set(Counter(r["maturity"] for r in rules)) == {
        "experimental",
        "stable",
        "proven",
    }
    assert promotable
    assert any(r["legal_hold"] for r in long_deprecated)
    assert any(not r["legal_hold"] for r in long_deprecated)
    assert any(r["status"] == "archived" for r in rules)
    assert sum(overdue_days(r) >= 60 for r in rules) >= 5
    assert sum(overdue_days(r) < 0 for r in rules) > len(rules) / 3
    assert any(t["source_version"] < r["version"] for r, t in translations)
    assert sum(t["source_version"] == r["version"] for r, t in translations) > 300
    assert missing
    assert 0 < sum(r["pattern"] is None for r in rules) < len(rules) / 4


def test_sample_texts_carry_material_for_translation_checks(
    sample: dict[str, Any],
) -> None:
    """Rule texts hold numbers, placeholders, inline code, URLs and rule references."""
    texts = [r["text"] for r in sample["rules"]]
    checks = {
        "number": r"\d",
        "placeholder": r"\{\w+\}",
        "inline code": r"`[^`]+`",
        "url": r"https://\S+",
        "rule reference": r"\bRR-[A-Z]+-\d{3}\b",
    }

    for name, pattern in checks.items():
        assert sum(bool(re.search(pattern, t)) for t in texts) >= 10, name


def test_sample_themes_have_recent_unprocessed_corrections(
    sample: dict[str, Any],
) -> None:
    """Each theme due for a proposal has at least 3 fresh, unprocessed corrections."""
    recent = recent_unprocessed(sample)
    recent_share = len(recent) / len(sample["corrections"])

    assert recent_share > 0.5
    for theme in THEMES:
        members = [c for c in recent if theme.anchor in c["delta_summary"]]
        mean = sum(c["confidence"] for c in members) / max(len(members), 1)
        if theme.expects_proposal:
            assert len(members) >= 3, theme.key
            assert mean > 0.8, theme.key
        elif len(members) >= 3:
            assert mean < 0.8, theme.key
    assert not all(t.expects_proposal for t in THEMES if t.recent >= 3)


async def test_sample_themes_cluster_under_the_local_embedding(
    sample: dict[str, Any],
) -> None:
    """Fresh corrections cluster into one pure cluster per active theme, noise apart."""
    recent = recent_unprocessed(sample)
    vectors = await HashingEmbedder().embed([c["delta_summary"] for c in recent])
    clusters = [c for c in connected_clusters(vectors, 0.8) if len(c) >= 3]

    def theme_of(correction: dict[str, Any]) -> str | None:
        summary = correction["delta_summary"]
        return next((t.key for t in THEMES if t.anchor in summary), None)

    labels = [{theme_of(recent[i]) for i in cluster} for cluster in clusters]
    proposals = [
        c for c in clusters if sum(recent[i]["confidence"] for i in c) / len(c) > 0.8
    ]

    assert all(len(label) == 1 and None not in label for label in labels)
    assert len(proposals) == sum(t.expects_proposal for t in THEMES)
    assert len(clusters) == sum(t.recent >= 3 for t in THEMES)


def test_sample_canaries_mostly_agree_with_their_rule_patterns(
    sample: dict[str, Any],
) -> None:
    """Most rules' canaries replay cleanly through their pattern; a few drift."""
    rules = {r["id"]: r for r in sample["rules"]}
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for canary in sample["canaries"]:
        by_rule[canary["rule_id"]].append(canary)
    disagreement = {}
    for rule_id, canaries in by_rule.items():
        pattern = rules[rule_id]["pattern"]
        if pattern is not None:
            verdicts = (
                "deny" if re.search(pattern, c["input"]) else "allow" for c in canaries
            )
            wrong = sum(
                v != c["expected_verdict"]
                for v, c in zip(verdicts, canaries, strict=True)
            )
            disagreement[rule_id] = wrong / len(canaries)
    with_pattern = [
        r for r in rules.values() if r["status"] == "active" and r["pattern"]
    ]

    assert all(5 <= len(c) <= 8 for c in by_rule.values())
    assert all(rules[r]["status"] == "active" for r in by_rule)
    assert len(disagreement) >= 0.8 * len(with_pattern)
    assert sum(d == 0 for d in disagreement.values()) >= 0.9 * len(disagreement)
    assert sum(d > 0.2 for d in disagreement.values()) >= 2
    assert any(rules[r]["pattern"] is None for r in by_rule)


def test_sample_code_examples_mostly_parse(sample: dict[str, Any]) -> None:
    """Python and JSON examples parse, except the few broken on purpose."""
    parsers: dict[str, Callable[[str], object]] = {
        "python": ast.parse,
        "json": json.loads,
    }
    examples = [e for r in sample["rules"] for e in r["examples"]]
    failures = 0
    for example in examples:
        parse = parsers.get(example["language"])
        try:
            if parse is not None:
                parse(example["code"])
        except (SyntaxError, ValueError):
            failures += 1
    languages = Counter(e["language"] for e in examples)

    assert set(languages) == {"python", "javascript", "json", "yaml", "sql"}
    assert 1 <= failures <= 0.05 * len(examples)


def test_write_sample_writes_the_generated_document(tmp_path: Path) -> None:
    """write_sample creates missing folders and writes generate_sample's output."""
    path = write_sample(tmp_path / "nested" / "sample.json", now=NOW, rules=30)

    assert json.loads(path.read_text(encoding="utf-8")) == generate_sample(
        now=NOW, rules=30
    )


def test_generate_sample_scales_down_for_small_repositories() -> None:
    """A small sample still validates and keeps its timestamps in the window."""
    small = generate_sample(now=NOW, seed=3, rules=25)
    times = [at(e["created_at"]) for e in small["evaluations"]]

    validate_snapshot(small)
    assert len(small["rules"]) == 25
    assert not times or (min(times) >= days_before(90) and max(times) < NOW)
    assert {r["status"] for r in small["rules"]} >= {"active", "deprecated"}
