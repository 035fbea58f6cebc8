"""Loading snapshots into PostgreSQL: all or nothing, idempotent, fast in bulk."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.db import transaction
from tasks.snapshot import SnapshotError, load_snapshot, read_snapshot_file

TABLES = (
    "norms",
    "rules",
    "translations",
    "lineage",
    "evaluations",
    "judgments",
    "corrections",
    "canaries",
)
START = datetime(2024, 1, 1, tzinfo=UTC)


def _snapshot(rules: int = 20, evaluations: int = 200) -> dict[str, Any]:
    """A consistent snapshot: a norm chain, rules deriving from it, their records."""
    at = START.isoformat()
    return {
        "locales": ["en", "de"],
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
                "title": "Child",
                "text": "t",
                "version": 1,
                "derives_from": ["N-1"],
            },
        ],
        "rules": [
            {
                "id": f"R-{i}",
                "title": f"Rule {i}",
                "text": f"Deny case {i}.",
                "locale": "en",
                "version": 1,
                "maturity": "experimental",
                "status": "active",
                "created_at": at,
                "review_interval_days": 180,
                "legal_hold": i == 0,
                "scope": "payments",
                "effect": "deny",
                "required_locales": ["de"],
                "translations": [
                    {"locale": "de", "text": f"Fall {i}.", "source_version": 1}
                ],
                "derives_from": ["N-2"] if i == 0 else ["N-2", f"R-{i - 1}"],
                "examples": [],
            }
            for i in range(rules)
        ],
        "evaluations": [
            {
                "id": f"E-{i}",
                "rule_id": f"R-{i % rules}",
                "verdict": "deny" if i % 3 else "allow",
                "created_at": (START + timedelta(seconds=i)).isoformat(),
            }
            for i in range(evaluations)
        ],
        "judgments": [
            {
                "id": f"J-{i}",
                "evaluation_id": f"E-{i}",
                "outcome": "correct",
                "created_at": at,
            }
            for i in range(0, evaluations, 10)
        ],
        "corrections": [
            {
                "id": "C-1",
                "rule_id": "R-1",
                "evaluation_id": "E-1",
                "analysis_type": "false_positive",
                "status": "unprocessed",
                "delta_summary": "refunds are not payments",
                "confidence": 0.9,
                "created_at": at,
            }
        ]
        if evaluations > 1
        else [],
        "canaries": [
            {
                "id": "K-1",
                "rule_id": "R-0",
                "input": "pay 10",
                "expected_verdict": "deny",
            }
        ],
    }


async def _row_counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        return {
            table: (
                await session.execute(text(f"SELECT count(*) FROM {table}"))
            ).scalar_one()
            for table in TABLES
        }


async def _load(
    sessions: async_sessionmaker[AsyncSession], document: dict[str, Any]
) -> Any:
    async with transaction(sessions) as session:
        return await load_snapshot(session, document)


async def test_load_snapshot_twice_keeps_one_copy(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A second load of the same snapshot adds nothing and reports all as existing."""
    document = _snapshot()

    first = await _load(sessions, document)
    counts_after_first = await _row_counts(sessions)
    second = await _load(sessions, document)

    assert first.as_dict() == {
        "norms": {"new": 2, "existing": 0},
        "rules": {"new": 20, "existing": 0},
        "translations": {"new": 20, "existing": 0},
        "lineage": {"new": 40, "existing": 0},
        "evaluations": {"new": 200, "existing": 0},
        "judgments": {"new": 20, "existing": 0},
        "corrections": {"new": 1, "existing": 0},
        "canaries": {"new": 1, "existing": 0},
    }
    assert all(
        c.new == 0 and c.existing == first[k].new for k, c in second.counts.items()
    )
    assert await _row_counts(sessions) == counts_after_first


async def test_load_snapshot_keeps_stored_state(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Loading again never overwrites what the jobs changed since."""
    document = _snapshot()
    await _load(sessions, document)
    async with transaction(sessions) as session:
        await session.execute(
            text("UPDATE rules SET maturity = 'proven' WHERE id = 'R-3'")
        )
        await session.execute(text("UPDATE corrections SET status = 'processed'"))

    await _load(sessions, document)

    async with sessions() as session:
        maturity = await session.scalar(
            text("SELECT maturity FROM rules WHERE id = 'R-3'")
        )
        status = await session.scalar(text("SELECT status FROM corrections"))
    assert (maturity, status) == ("proven", "processed")


async def test_load_snapshot_stores_lineage_kinds_and_judgment_rules(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Lineage rows carry both ends' kinds and judgments their evaluation's rule."""
    await _load(sessions, _snapshot(rules=3, evaluations=30))

    async with sessions() as session:
        lineage = (
            await session.execute(
                text("SELECT child_id, parent_id, child_kind, parent_kind FROM lineage")
            )
        ).all()
        judgment_rule = await session.scalar(
            text("SELECT rule_id FROM judgments WHERE evaluation_id = 'E-10'")
        )
    assert sorted(tuple(row) for row in lineage) == [
        ("N-2", "N-1", "norm", "norm"),
        ("R-0", "N-2", "rule", "norm"),
        ("R-1", "N-2", "rule", "norm"),
        ("R-1", "R-0", "rule", "rule"),
        ("R-2", "N-2", "rule", "norm"),
        ("R-2", "R-1", "rule", "rule"),
    ]
    assert judgment_rule == "R-1"


async def test_load_snapshot_with_one_bad_reference_writes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """One unknown reference among many good records refuses the whole document."""
    document = _snapshot()
    document["judgments"][7]["evaluation_id"] = "E-missing"

    with pytest.raises(SnapshotError) as caught:
        await _load(sessions, document)

    assert caught.value.errors == [
        "judgments[7].evaluation_id: unknown id 'E-missing' (no evaluation)"
    ]
    assert set((await _row_counts(sessions)).values()) == {0}


async def test_load_snapshot_with_cycle_writes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A lineage cycle refuses the document, naming the cycle, and writes nothing."""
    document = _snapshot(rules=4)
    document["rules"][0]["derives_from"] = ["R-3"]

    with pytest.raises(SnapshotError) as caught:
        await _load(sessions, document)

    assert len(caught.value.errors) == 1
    assert "lineage cycle" in caught.value.errors[0]
    assert all(f"'R-{i}'" in caught.value.errors[0] for i in range(4))
    assert set((await _row_counts(sessions)).values()) == {0}


async def test_load_snapshot_refuses_cycle_closed_by_stored_lineage(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """New edges that close a cycle with lineage already stored are refused."""
    await _load(sessions, _snapshot(rules=2, evaluations=0))
    document = _snapshot(rules=0, evaluations=0)
    document["norms"] = [
        {
            "id": "N-1",
            "title": "Root",
            "text": "t",
            "version": 1,
            "derives_from": ["N-3"],
        },
        {
            "id": "N-3",
            "title": "New",
            "text": "t",
            "version": 1,
            "derives_from": ["N-2"],
        },
    ]
    before = await _row_counts(sessions)

    with pytest.raises(SnapshotError) as caught:
        await _load(sessions, document)

    assert len(caught.value.errors) == 1
    error = caught.value.errors[0]
    assert error.startswith("norms[")
    assert "closed by lineage already in the database" in error
    assert all(f"'N-{i}'" in error for i in (1, 2, 3))
    assert await _row_counts(sessions) == before


async def test_load_snapshot_refers_to_stored_records(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A second snapshot may name rules and evaluations that an earlier one loaded."""
    await _load(sessions, _snapshot(rules=3, evaluations=3))
    document = _snapshot(rules=0, evaluations=0)
    document["norms"] = []
    document["evaluations"] = [
        {
            "id": "E-100",
            "rule_id": "R-2",
            "verdict": "deny",
            "created_at": "2024-02-01T00:00Z",
        }
    ]
    document["judgments"] = [
        {
            "id": "J-100",
            "evaluation_id": "E-1",
            "outcome": "false_positive",
            "created_at": "2024-02-01T00:00:00+01:00",
        }
    ]

    report = await _load(sessions, document)

    assert report["evaluations"].new == 1
    assert report["judgments"].new == 1
    async with sessions() as session:
        rule_id = await session.scalar(
            text("SELECT rule_id FROM judgments WHERE id = 'J-100'")
        )
    assert rule_id == "R-1"


async def test_load_snapshot_refuses_id_of_stored_rule_as_norm(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A norm may not take the id of a stored rule: the two share one namespace."""
    await _load(sessions, _snapshot(rules=2, evaluations=0))
    document = _snapshot(rules=0, evaluations=0)
    document["norms"] = [
        {"id": "R-1", "title": "Clash", "text": "t", "version": 1, "derives_from": []}
    ]

    with pytest.raises(SnapshotError) as caught:
        await _load(sessions, document)

    assert caught.value.errors == [
        "norms[0].id: 'R-1' is already a rule in the database; "
        "norms and rules share one namespace"
    ]


@pytest.mark.slow
async def test_load_snapshot_inserts_100k_evaluations_in_bulk(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A snapshot of 100,000 evaluations loads whole, every row counted once."""
    document = _snapshot(rules=100, evaluations=100_000)

    report = await _load(sessions, document)

    assert report["evaluations"].new == 100_000
    assert report["judgments"].new == 10_000
    async with sessions() as session:
        stored = await session.scalar(text("SELECT count(*) FROM evaluations"))
    assert stored == 100_000


def test_read_snapshot_file_reports_line_and_column(tmp_path: Path) -> None:
    """Invalid JSON is refused with the line and column of the error."""
    path = tmp_path / "broken.json"
    path.write_text('{\n  "locales": ["en",]\n}\n', encoding="utf-8")

    with pytest.raises(SnapshotError) as caught:
        read_snapshot_file(path)

    assert caught.value.errors == [
        f"{path}: not valid JSON at line 2, column 20: Expecting value"
    ]


def test_read_snapshot_file_refuses_missing_file_and_non_objects(
    tmp_path: Path,
) -> None:
    """A missing file and a document that is not an object each get a clear error."""
    missing = tmp_path / "absent.json"
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps([1, 2]), encoding="utf-8")

    with pytest.raises(SnapshotError, match="cannot be read: No such file"):
        read_snapshot_file(missing)
    with pytest.raises(SnapshotError, match="a snapshot is a JSON object, got a list"):
        read_snapshot_file(listing)
    assert read_snapshot_file(_write(tmp_path, _snapshot(rules=1, evaluations=1)))


def _write(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / "snapshot.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
