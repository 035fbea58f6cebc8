"""verify_translation_drift: stale versions, the 0.75 similarity edge, idempotency."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import graphs.verify_translation_drift as job
from tasks.providers import Embedder, Providers
from tasks.providers.local import PatternEvaluator, TemplateDrafter, local_providers
from tasks.schema import Translation
from tasks.similarity import score_translation_similarity
from tasks.translation_drift import flag_translation_drift
from tests.support.domain_rows import add, alerts, dump_domain, rule, run_task
from tests.support.engine import harness

T = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)


class ScoredEmbedder(Embedder):
    """A cross-lingual embedder whose similarities are given per text.

    Every text embeds to a unit vector in two dimensions: a text listed in
    ``scores`` at cosine ``scores[text]`` from the first axis, any other text on
    the first axis itself. A listed translation of an unlisted source therefore
    scores exactly its listed value.
    """

    def __init__(self, scores: Mapping[str, float]) -> None:
        self.scores = dict(scores)

    @property
    def model(self) -> str:
        return "scored-test-embedder"

    @property
    def cross_lingual(self) -> bool:
        return True

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        rows = []
        for item in texts:
            score = self.scores.get(item, 1.0)
            rows.append([score, math.sqrt(max(0.0, 1.0 - score * score))])
        return np.array(rows, dtype=np.float32).reshape(len(texts), 2)


def providers_with(embedder: Embedder) -> Providers:
    return Providers("test", embedder, TemplateDrafter(), PatternEvaluator())


async def run_job(
    sessions: async_sessionmaker[AsyncSession],
    logical_time: datetime = T,
    providers: Providers | None = None,
) -> dict[str, Any]:
    """Both steps in order, as the graph chains them."""
    similarity = await run_task(
        sessions, score_translation_similarity, logical_time, providers=providers
    )
    return await run_task(
        sessions,
        flag_translation_drift,
        logical_time,
        inputs={"similarity": similarity},
        providers=providers,
    )


async def seed_versions(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add(
        sessions,
        rule("R1", version=2),
        rule("R2", version=3, status="deprecated"),
        rule("R3"),
        Translation(rule_id="R1", locale="de", text="R1 de", source_version=1),
        Translation(rule_id="R1", locale="fr", text="R1 fr", source_version=2),
        Translation(rule_id="R2", locale="de", text="R2 de", source_version=1),
        Translation(rule_id="R3", locale="de", text="R3 de", source_version=1),
    )


async def test_translation_of_an_older_source_version_drifts(sessions) -> None:
    """Only the active rule's translation made from an older version drifts."""
    await seed_versions(sessions)

    output = await run_job(sessions)

    found = await alerts(sessions, "locale_drift")
    assert set(found) == {"R1|de"}
    assert found["R1|de"]["rule_id"] == "R1"
    assert found["R1|de"]["locale"] == "de"
    assert found["R1|de"]["severity"] == "warning"
    assert found["R1|de"]["details"] == {
        "reasons": ["source_version"],
        "source_version": 1,
        "rule_version": 2,
    }
    assert output["drifted"] == 1
    assert output["dissimilar"] == 0


async def test_local_embedder_does_not_score_similarity(sessions) -> None:
    """The hashing embedder cannot compare languages, so nothing is scored."""
    await seed_versions(sessions)

    output = await run_task(sessions, score_translation_similarity, T)

    assert local_providers().embedder.cross_lingual is False
    assert output == {
        "cross_lingual": False,
        "model": local_providers().embedder.model,
        "scored": 0,
        "below": [],
    }


async def test_similarity_below_075_drifts_and_075_does_not(sessions) -> None:
    """A cross-lingual score of 0.7499 drifts; exactly 0.75 does not."""
    await add(
        sessions,
        rule("R1"),
        Translation(rule_id="R1", locale="de", text="at the edge", source_version=1),
        Translation(rule_id="R1", locale="fr", text="just below", source_version=1),
        Translation(rule_id="R1", locale="es", text="far away", source_version=1),
    )
    embedder = ScoredEmbedder(
        {"at the edge": 0.75, "just below": 0.7499, "far away": 0.1}
    )

    output = await run_job(sessions, providers=providers_with(embedder))

    found = await alerts(sessions, "locale_drift")
    assert set(found) == {"R1|fr", "R1|es"}
    assert found["R1|fr"]["details"] == {
        "reasons": ["similarity"],
        "similarity": 0.7499,
        "threshold": 0.75,
        "source_version": 1,
        "rule_version": 1,
    }
    assert output["dissimilar"] == 2


async def test_stale_and_dissimilar_translation_names_both_reasons(sessions) -> None:
    """A translation both stale and dissimilar gets one alert with two reasons."""
    await add(
        sessions,
        rule("R1", version=2),
        Translation(rule_id="R1", locale="de", text="R1 de", source_version=1),
    )
    embedder = ScoredEmbedder({"R1 de": 0.2})

    await run_job(sessions, providers=providers_with(embedder))

    found = await alerts(sessions, "locale_drift")
    assert found["R1|de"]["details"]["reasons"] == ["source_version", "similarity"]


async def test_cleared_drift_is_resolved_at_the_later_logical_time(sessions) -> None:
    """Once the translation is updated, the next run resolves its alert."""
    await seed_versions(sessions)
    await run_job(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE translations SET source_version = 2 WHERE rule_id = 'R1'")
        )
    later = T + timedelta(days=1)

    output = await run_job(sessions, later)

    resolved = await alerts(sessions, "locale_drift", status="resolved")
    assert set(resolved) == {"R1|de"}
    assert await alerts(sessions, "locale_drift") == {}
    assert output["resolved"] == 1
    async with sessions() as session:
        at = await session.scalar(text("SELECT resolved_at FROM alerts"))
    assert at == later


async def test_running_twice_for_one_logical_time_changes_nothing(sessions) -> None:
    """A second run at T leaves every domain table identical, row for row."""
    await seed_versions(sessions)
    await run_job(sessions)
    before = await dump_domain(sessions)

    await run_job(sessions)

    assert await dump_domain(sessions) == before


async def test_graph_runs_on_a_worker_and_a_rerun_changes_nothing(
    sessions, db_url, redis_url, queue_name
) -> None:
    """The graph succeeds on a real worker; re-running its first step is a no-op."""
    await seed_versions(sessions)
    async with harness({job.GRAPH.name: job.GRAPH}, db_url, redis_url, queue_name) as h:
        await h.start_worker({"providers": local_providers()})
        run_id = await h.run(job.GRAPH.name, logical_time=T)
        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        steps = await h.steps(run_id)
        before = await dump_domain(sessions)

        await h.client.rerun(run_id, "similarity", "test")

        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        assert await dump_domain(sessions) == before
    assert steps["flag"]["output"]["drifted"] == 1
    assert set(await alerts(sessions, "locale_drift")) == {"R1|de"}
    assert job.GRAPH.schedule == "30 3 * * *"
