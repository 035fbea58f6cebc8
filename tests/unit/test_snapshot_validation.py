"""Snapshot documents: their shape and cross-record rules, checked without I/O."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

import pytest

from tasks.importers import find_lineage_cycles
from tasks.snapshot import (
    KnownRecords,
    Maturity,
    SnapshotError,
    Verdict,
    validate_snapshot,
)

CREATED = "2024-03-01T09:00:00+00:00"


def _document() -> dict[str, Any]:
    """A small valid snapshot: two norms, two rules and one record of each kind."""
    rule = {
        "id": "R-1",
        "title": "No secrets in logs",
        "text": "Deny log lines that carry a secret.",
        "locale": "en",
        "version": 2,
        "maturity": "stable",
        "status": "active",
        "created_at": CREATED,
        "review_interval_days": 90,
        "legal_hold": False,
        "scope": "logging",
        "effect": "deny",
        "pattern": r"secret=\S+",
        "required_locales": ["fr"],
        "translations": [
            {"locale": "fr", "text": "Pas de secrets.", "source_version": 2}
        ],
        "derives_from": ["N-2"],
        "examples": [{"language": "python", "code": "log.info('ok')"}],
    }
    second = {
        **copy.deepcopy(rule),
        "id": "R-2",
        "derives_from": ["R-1"],
        "pattern": None,
        "deprecated_at": "2024-04-01T00:00:00Z",
        "last_reviewed_at": "2024-03-15T12:00:00-05:00",
    }
    return {
        "locales": ["en", "fr"],
        "norms": [
            {
                "id": "N-1",
                "title": "Root",
                "text": "t",
                "version": 1,
                "derives_from": [],
            },
            {
                "id": "N-2",
                "title": "Leaf",
                "text": "t",
                "version": 3,
                "derives_from": ["N-1"],
            },
        ],
        "rules": [rule, second],
        "evaluations": [
            {"id": "E-1", "rule_id": "R-1", "verdict": "deny", "created_at": CREATED}
        ],
        "judgments": [
            {
                "id": "J-1",
                "evaluation_id": "E-1",
                "outcome": "correct",
                "created_at": CREATED,
            }
        ],
        "corrections": [
            {
                "id": "C-1",
                "rule_id": "R-1",
                "evaluation_id": "E-1",
                "analysis_type": "false_positive",
                "status": "triaged-by-hand",
                "delta_summary": "token names are not secrets",
                "confidence": 1,
                "created_at": CREATED,
            }
        ],
        "canaries": [
            {
                "id": "K-1",
                "rule_id": "R-1",
                "input": "secret=x",
                "expected_verdict": "deny",
            }
        ],
    }


def _errors(document: dict[str, Any], known: KnownRecords | None = None) -> list[str]:
    with pytest.raises(SnapshotError) as caught:
        validate_snapshot(document, known)
    return caught.value.errors


def _cycle_in(message: str) -> list[str]:
    return re.findall(
        r"'([^']+)'", message.split("lineage cycle ", 1)[1].split(" (")[0]
    )


def test_snapshot_valid_document_is_accepted() -> None:
    """A well-formed document with resolvable references validates into records."""
    snapshot = validate_snapshot(_document())

    assert snapshot.rules[0].maturity is Maturity.STABLE
    assert snapshot.evaluations[0].verdict is Verdict.DENY
    assert snapshot.rules[1].last_reviewed_at is not None
    assert snapshot.rules[1].last_reviewed_at.utcoffset() is not None
    assert snapshot.corrections[0].confidence == 1.0


def test_timestamp_without_zone_is_refused() -> None:
    """A naive timestamp is refused at its path, saying the zone is missing."""
    document = _document()
    document["rules"][1]["created_at"] = "2024-03-01T09:00:00"
    document["judgments"][0]["created_at"] = "2024-03-01"

    errors = _errors(document)

    assert any(
        e.startswith("rules[1].created_at: ") and "no time zone" in e for e in errors
    )
    assert any(e.startswith("judgments[0].created_at: ") for e in errors)


def test_timestamp_as_number_is_refused() -> None:
    """A Unix time number is not an ISO 8601 timestamp and is refused."""
    document = _document()
    document["evaluations"][0]["created_at"] = 1709283600

    errors = _errors(document)

    assert errors == [
        "evaluations[0].created_at: expected an ISO 8601 timestamp string, got int"
    ]


def test_field_wrong_types_are_refused_not_coerced() -> None:
    """Strings standing for numbers or booleans are refused rather than coerced."""
    document = _document()
    document["norms"][0]["version"] = "1"
    document["rules"][0]["legal_hold"] = "no"
    document["corrections"][0]["confidence"] = "0.9"
    document["evaluations"][0]["rule_id"] = 7

    paths = {e.split(":")[0] for e in _errors(document)}

    assert paths == {
        "norms[0].version",
        "rules[0].legal_hold",
        "corrections[0].confidence",
        "evaluations[0].rule_id",
    }


def test_values_the_database_cannot_store_are_refused() -> None:
    """Over-long ids, NUL characters and integers past INTEGER are refused up front."""
    document = _document()
    document["evaluations"][0]["id"] = "E" * 201
    document["rules"][0]["text"] = "deny\x00"
    document["norms"][0]["version"] = 2**31

    errors = _errors(document)

    assert [e.split(":")[0] for e in errors] == [
        "norms[0].version",
        "rules[0].text",
        "evaluations[0].id",
    ]
    assert "NUL character" in errors[1]


def test_huge_text_is_refused_with_its_path() -> None:
    """A text field of more than 100,000 characters is refused, naming the field."""
    document = _document()
    document["rules"][0]["text"] = "deny " * 20_001

    errors = _errors(document)

    assert [e.split(":")[0] for e in errors] == ["rules[0].text"]
    assert "100000" in errors[0]


def test_snapshot_extra_keys_are_refused() -> None:
    """Unknown keys, at the top or in a record, are refused by name."""
    document = _document()
    document["alerts"] = []
    document["rules"][0]["owner"] = "sec-team"
    document["rules"][0]["translations"][0]["reviewer"] = "x"

    errors = _errors(document)

    assert "alerts: Extra inputs are not permitted" in errors
    assert "rules[0].owner: Extra inputs are not permitted" in errors
    assert "rules[0].translations[0].reviewer: Extra inputs are not permitted" in errors


def test_snapshot_missing_keys_are_refused() -> None:
    """A missing top-level key or required field is named; optional fields may be absent."""
    document = _document()
    del document["canaries"]
    del document["norms"][1]["derives_from"]
    del document["rules"][0]["pattern"]

    errors = _errors(document)

    assert errors == [
        "norms[1].derives_from: Field required",
        "canaries: Field required",
    ]


def test_enum_fields_accept_only_their_values() -> None:
    """Maturity, status, effect, verdict and outcome refuse values outside their sets."""
    document = _document()
    document["rules"][0]["maturity"] = "beta"
    document["rules"][0]["status"] = "ACTIVE"
    document["rules"][1]["effect"] = "block"
    document["canaries"][0]["expected_verdict"] = "maybe"
    document["judgments"][0]["outcome"] = "wrong"

    paths = {e.split(":")[0] for e in _errors(document)}

    assert paths == {
        "rules[0].maturity",
        "rules[0].status",
        "rules[1].effect",
        "canaries[0].expected_verdict",
        "judgments[0].outcome",
    }


@pytest.mark.parametrize("confidence", [-0.1, 1.5, float("nan")])
def test_correction_confidence_outside_unit_interval_is_refused(
    confidence: float,
) -> None:
    """A correction's confidence must lie between 0 and 1."""
    document = _document()
    document["corrections"][0]["confidence"] = confidence

    assert [e.split(":")[0] for e in _errors(document)] == ["corrections[0].confidence"]


def test_correction_status_must_not_be_empty() -> None:
    """A correction's status is any string the source uses, but not an empty one."""
    document = _document()
    document["corrections"][0]["status"] = ""

    assert [e.split(":")[0] for e in _errors(document)] == ["corrections[0].status"]


def test_rule_pattern_must_compile() -> None:
    """A rule's pattern that is not a regular expression is refused."""
    document = _document()
    document["rules"][0]["pattern"] = "secret=("

    errors = _errors(document)

    assert len(errors) == 1
    assert errors[0].startswith("rules[0].pattern: not a valid regular expression")


def test_duplicate_ids_within_a_kind_are_refused() -> None:
    """A repeated id is named with both positions."""
    document = _document()
    document["evaluations"].append(dict(document["evaluations"][0]))
    document["rules"][1]["id"] = "R-1"
    document["judgments"][0]["evaluation_id"] = "E-1"

    errors = _errors(document)

    assert (
        "evaluations[1].id: duplicate id 'E-1', already used by evaluations[0]"
        in errors
    )
    assert "rules[1].id: duplicate id 'R-1', already used by rules[0]" in errors


def test_norm_and_rule_sharing_an_id_are_refused() -> None:
    """Norms and rules share one namespace, in the snapshot and with stored records."""
    document = _document()
    document["norms"][0]["id"] = "R-2"
    document["norms"][1]["derives_from"] = []
    known = KnownRecords(norm_ids=frozenset({"R-1"}), rule_ids=frozenset())

    errors = _errors(document, known)

    assert any(
        e.startswith("norms[0].id: 'R-2' is also the id of rules[1]") for e in errors
    )
    assert any(e.startswith("rules[0].id: 'R-1' is already a norm") for e in errors)


def test_unknown_references_are_named_with_their_path() -> None:
    """Every reference to a missing record is reported at its own path."""
    document = _document()
    document["rules"][1]["derives_from"] = ["R-1", "N-9"]
    document["evaluations"][0]["rule_id"] = "R-9"
    document["canaries"][0]["rule_id"] = "R-8"
    document["judgments"][0]["evaluation_id"] = "E-9"
    document["corrections"][0]["evaluation_id"] = "E-8"
    document["corrections"][0]["rule_id"] = None

    errors = _errors(document)

    assert [e.split(" (")[0] for e in errors] == [
        "rules[1].derives_from[1]: unknown id 'N-9'",
        "evaluations[0].rule_id: unknown id 'R-9'",
        "canaries[0].rule_id: unknown id 'R-8'",
        "judgments[0].evaluation_id: unknown id 'E-9'",
        "corrections[0].evaluation_id: unknown id 'E-8'",
    ]


def test_norm_deriving_from_a_rule_is_refused() -> None:
    """A norm's derives_from must name norms, never rules."""
    document = _document()
    document["rules"][1]["derives_from"] = []
    document["norms"][0]["derives_from"] = ["R-2"]

    errors = _errors(document)

    assert errors == [
        "norms[0].derives_from[0]: 'R-2' is a rule; a norm derives from norms only"
    ]


def test_references_to_stored_records_are_accepted() -> None:
    """References may name records that the database already holds."""
    document = _document()
    document["norms"] = []
    document["rules"] = []
    document["corrections"][0]["rule_id"] = "R-1"
    document["corrections"][0]["evaluation_id"] = "E-0"
    known = KnownRecords(
        norm_ids=frozenset({"N-1"}),
        rule_ids=frozenset({"R-1", "R-7"}),
        evaluation_rules={"E-0": "R-1"},
    )

    snapshot = validate_snapshot(document, known)

    assert [e.id for e in snapshot.evaluations] == ["E-1"]


def test_correction_naming_another_rules_evaluation_is_refused() -> None:
    """A correction giving both ids must name the evaluation's own rule."""
    document = _document()
    document["corrections"][0]["rule_id"] = "R-2"

    errors = _errors(document)

    assert errors == [
        "corrections[0].rule_id: evaluation 'E-1' belongs to rule 'R-1', not 'R-2'"
    ]


def test_rule_locales_must_be_declared_and_translations_consistent() -> None:
    """Locales come from the list; one translation per other locale, not from the future."""
    document = _document()
    document["rules"][0]["required_locales"] = ["fr", "de"]
    document["rules"][0]["translations"] = [
        {"locale": "fr", "text": "a", "source_version": 3},
        {"locale": "fr", "text": "b", "source_version": 1},
        {"locale": "en", "text": "c", "source_version": 1},
    ]

    errors = _errors(document)

    assert errors == [
        "rules[0].required_locales[1]: 'de' is not listed in locales",
        "rules[0].translations[0].source_version: 3 is newer than the rule's version 2",
        "rules[0].translations[1].locale: a second translation into 'fr'",
        "rules[0].translations[2].locale: 'en' is the rule's own locale",
    ]


def test_lineage_cycle_is_named_in_order() -> None:
    """A cycle in the snapshot's lineage is refused, naming its nodes in order."""
    document = _document()
    document["norms"][0]["derives_from"] = ["N-2"]
    document["rules"][0]["derives_from"] = ["R-2"]

    errors = _errors(document)

    assert len(errors) == 2
    edges = {("N-1", "N-2"), ("N-2", "N-1"), ("R-1", "R-2"), ("R-2", "R-1")}
    for error in errors:
        assert "lineage cycle" in error
        nodes = _cycle_in(error)
        assert nodes[0] == nodes[-1]
        assert len(nodes) == 3
        assert set(itertools.pairwise(nodes)) <= edges
    assert any(e.startswith("norms[") for e in errors)
    assert any(e.startswith("rules[") for e in errors)


def test_lineage_self_derivation_is_a_cycle() -> None:
    """A rule deriving from itself is a cycle of one node."""
    document = _document()
    document["rules"][1]["derives_from"] = ["R-2"]

    errors = _errors(document)

    assert len(errors) == 1
    assert errors[0].startswith("rules[1].derives_from: lineage cycle 'R-2' -> 'R-2'")


def test_lineage_cycle_closed_by_stored_edges_is_refused() -> None:
    """An edge that closes a cycle together with stored lineage is refused."""
    document = _document()
    known = KnownRecords(lineage=(("N-1", "R-2"),))

    errors = _errors(document, known)

    assert len(errors) == 1
    assert "closed by lineage already in the database" in errors[0]
    nodes = _cycle_in(errors[0])
    assert nodes[0] == nodes[-1]
    assert set(nodes) == {"R-2", "R-1", "N-2", "N-1"}


def test_find_lineage_cycles_ignores_cycles_of_stored_edges_alone() -> None:
    """A cycle among stored edges only is not blamed on the new edges."""
    stored = [("A", "B"), ("B", "A")]

    assert find_lineage_cycles([("C", "A")], stored) == []
    assert find_lineage_cycles([("B", "C")], [*stored, ("C", "A")]) == [
        (["B", "C", "A", "B"], True)
    ]


def test_snapshot_error_message_caps_the_list() -> None:
    """The message shows the first problems and says how many more there are."""
    document = _document()
    document["evaluations"] = [
        {"id": f"E-{i}", "rule_id": "R-404", "verdict": "deny", "created_at": CREATED}
        for i in range(30)
    ]
    document["judgments"] = []
    document["corrections"][0]["evaluation_id"] = None

    with pytest.raises(SnapshotError) as caught:
        validate_snapshot(document)

    assert len(caught.value.errors) == 30
    message = str(caught.value)
    assert message.startswith("the snapshot was not loaded: 30 problems:")
    assert "evaluations[19].rule_id" in message
    assert "evaluations[20].rule_id" not in message
    assert message.endswith("... and 10 more")


def test_snapshot_that_is_not_an_object_is_refused() -> None:
    """A document that is not a JSON object is refused with one clear problem."""
    with pytest.raises(SnapshotError) as caught:
        validate_snapshot([])  # type: ignore[arg-type]

    assert caught.value.errors[0].startswith("(document): a snapshot is a JSON object")
