"""Amending CWE-284 over the real CWE and ASVS catalogues, through a real worker."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

import graphs.propagate_norm_amendment as propagation
from orchestrator.states import Trigger
from tasks.amendments import request_amendment
from tasks.importers.asvs import import_asvs
from tasks.importers.cwe import import_cwe
from tests.support.engine import Harness, harness

T = datetime(2026, 11, 30, 12, tzinfo=UTC)
CHILD_OF = re.compile(r"NATURE:ChildOf:CWE ID:(\d+):VIEW ID:1000")


def lineage_from_files(corpus: Path) -> dict[str, set[str]]:
    """Children of each node, read straight from the files (not via the importer)."""
    children: dict[str, set[str]] = defaultdict(set)
    (csv_path,) = (corpus / "cwe").glob("*.csv")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for parent in CHILD_OF.findall(row["Related Weaknesses"] or ""):
                children[f"CWE-{parent}"].add(f"CWE-{row['CWE-ID']}")
    english = json.loads(
        (corpus / "asvs" / "asvs-4.0.3-en.flat.json").read_text("utf-8")
    )
    for req in english["requirements"]:
        if req["cwe"].strip():
            children[f"CWE-{int(req['cwe'])}"].add(f"ASVS-{req['req_id']}")
    return children


def reachable(children: dict[str, set[str]], root: str) -> set[str]:
    seen: set[str] = set()
    queue = deque([root])
    while queue:
        for child in children.get(queue.popleft(), ()):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return seen


@pytest.fixture
async def h(
    db_url: str, redis_url: str, queue_name: str, corpus_dir: Path
) -> AsyncIterator[Harness]:
    graph = propagation.GRAPH
    async with harness({graph.name: graph}, db_url, redis_url, queue_name) as hh:
        async with hh.client.sessions() as s, s.begin():
            await import_cwe(s, next((corpus_dir / "cwe").glob("*.csv")))
            await import_asvs(s, corpus_dir / "asvs")
        yield hh


async def _amend(h: Harness):
    return await request_amendment(
        h.client,
        norm_id="CWE-284",
        version=2,
        summary="access control wording revised",
        actor="test",
        at=T,
        trigger=Trigger.API,
    )


async def test_cwe_284_amendment_reaches_lineage_in_order(
    h: Harness, corpus_dir: Path
) -> None:
    """One step per weakness and requirement below CWE-284, each after its parents."""
    children = lineage_from_files(corpus_dir)
    expected = reachable(children, "CWE-284")
    await h.start_worker(concurrency=8)

    first = await _amend(h)
    assert await h.client.wait(first.run_id, timeout_s=300) == "succeeded"

    async with h.client.sessions() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT step_key, started_at, finished_at, expanded_from"
                    " FROM step_runs WHERE run_id = :r"
                ),
                {"r": first.run_id},
            )
        ).all()
        notices = await s.scalar(text("SELECT count(*) FROM amendment_notices"))
    times = {r[0]: (r[1], r[2]) for r in rows}
    expanded = {r[0].removeprefix("notice:") for r in rows if r[3] == "plan"}
    assert expanded == expected
    assert any(node.startswith("ASVS-") for node in expanded)
    assert sum(1 for n in expanded if n.startswith("CWE-")) > 100
    for parent in expected | {"CWE-284"}:
        for child in children.get(parent, ()):
            if parent == "CWE-284":
                assert times["plan"][1] <= times[f"notice:{child}"][0]
            else:
                assert times[f"notice:{parent}"][1] <= times[f"notice:{child}"][0], (
                    parent,
                    child,
                )
    assert notices == len(expected)

    again = await _amend(h)
    assert again.run_id == first.run_id
    assert again.created is False
    async with h.client.sessions() as s:
        assert await s.scalar(text("SELECT count(*) FROM amendment_notices")) == notices
        assert await s.scalar(text("SELECT count(*) FROM runs")) == 1
