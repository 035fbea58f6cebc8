"""validate_polyglot_equivalence: markers per translation, similarity, real ASVS."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import graphs.validate_polyglot_equivalence as job
from tasks.equivalence import check_polyglot_equivalence
from tasks.importers.asvs import import_asvs
from tasks.providers import Embedder, Providers
from tasks.providers.local import PatternEvaluator, TemplateDrafter, local_providers
from tasks.schema import Translation
from tasks.similarity import score_translation_similarity
from tests.support.domain_rows import add, alerts, dump_domain, rule, run_task
from tests.support.engine import harness

T = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # a Sunday

SOURCE = (
    "Lock the account for 30 minutes after 5 failed attempts, notify {user} "
    "and log `lockout` as required by RR-SEC-001 (https://example.org/lockout)."
)
FAITHFUL = (
    "Sperren Sie das Konto 30 Minuten lang nach 5 Fehlversuchen, benachrichtigen Sie "
    "{user} und protokollieren Sie `lockout` gemäß RR-SEC-001 "
    "(https://example.org/lockout)."
)
FAITHFUL_FR = (
    "Verrouillez le compte pendant 30 minutes après 5 tentatives, prévenez {user} "
    "et journalisez `lockout` selon RR-SEC-001 (https://example.org/lockout)."
)
UNFAITHFUL = (
    "Verrouillez le compte pendant une heure après 3 tentatives, prévenez "
    "l'utilisateur et journalisez `lockout` selon RR-SEC-001 "
    "(https://example.org/lockout)."
)


class ScoredEmbedder(Embedder):
    """A cross-lingual embedder whose listed texts score their value against others."""

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


async def run_job(
    sessions: async_sessionmaker[AsyncSession],
    logical_time: datetime = T,
    providers: Providers | None = None,
) -> dict[str, Any]:
    similarity = await run_task(
        sessions, score_translation_similarity, logical_time, providers=providers
    )
    return await run_task(
        sessions,
        check_polyglot_equivalence,
        logical_time,
        inputs={"similarity": similarity},
        providers=providers,
    )


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add(
        sessions,
        rule("R1", text=SOURCE),
        rule("OLD", text=SOURCE, status="deprecated"),
        Translation(rule_id="R1", locale="de", text=FAITHFUL, source_version=1),
        Translation(rule_id="R1", locale="fr", text=UNFAITHFUL, source_version=1),
        Translation(rule_id="OLD", locale="fr", text=UNFAITHFUL, source_version=1),
    )


async def test_translation_losing_markers_is_flagged_with_what_differs(
    sessions,
) -> None:
    """The French text lost a number, a duration and a placeholder; German kept all."""
    await seed(sessions)

    output = await run_job(sessions)

    found = await alerts(sessions, "polyglot_mismatch")
    assert set(found) == {"R1|fr"}
    assert found["R1|fr"]["severity"] == "warning"
    assert found["R1|fr"]["locale"] == "fr"
    assert found["R1|fr"]["details"] == {
        "numbers": {"missing": ["5"], "extra": ["3"]},
        "durations": {"missing": ["30 minutes"], "extra": []},
        "placeholders": {"missing": ["{user}"], "extra": []},
    }
    assert output["pairs"] == 2
    assert output["by_category"] == {"durations": 1, "numbers": 1, "placeholders": 1}


async def test_cross_lingual_similarity_below_075_is_a_mismatch(sessions) -> None:
    """With a cross-lingual embedder 0.7499 is flagged and exactly 0.75 is not."""
    await add(
        sessions,
        rule("R1", text=SOURCE),
        Translation(rule_id="R1", locale="de", text=FAITHFUL, source_version=1),
        Translation(
            rule_id="R1", locale="de-ch", text=FAITHFUL + " ", source_version=1
        ),
    )
    embedder = ScoredEmbedder({FAITHFUL: 0.7499, FAITHFUL + " ": 0.75})
    providers = Providers("test", embedder, TemplateDrafter(), PatternEvaluator())

    await run_job(sessions, providers=providers)

    found = await alerts(sessions, "polyglot_mismatch")
    assert set(found) == {"R1|de"}
    assert found["R1|de"]["details"] == {
        "similarity": {"score": 0.7499, "threshold": 0.75}
    }


async def test_fixed_translation_is_resolved_and_rerun_is_identical(sessions) -> None:
    """A second run at T changes nothing; after a fix the next run resolves."""
    await seed(sessions)
    await run_job(sessions)
    before = await dump_domain(sessions)
    await run_job(sessions)
    assert await dump_domain(sessions) == before
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "UPDATE translations SET text = :t WHERE rule_id = 'R1' AND locale = 'fr'"
            ),
            {"t": FAITHFUL_FR},
        )

    await run_job(sessions, T + timedelta(days=7))

    assert set(await alerts(sessions, "polyglot_mismatch", status="resolved")) == {
        "R1|fr"
    }
    assert await alerts(sessions, "polyglot_mismatch") == {}


async def test_graph_runs_on_a_worker_and_a_rerun_changes_nothing(
    sessions, db_url, redis_url, queue_name
) -> None:
    """The graph succeeds on a worker; re-running its compare step is a no-op."""
    await seed(sessions)
    async with harness({job.GRAPH.name: job.GRAPH}, db_url, redis_url, queue_name) as h:
        await h.start_worker({"providers": local_providers()})
        run_id = await h.run(job.GRAPH.name, logical_time=T)
        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        before = await dump_domain(sessions)

        await h.client.rerun(run_id, "compare", "test")

        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        assert await dump_domain(sessions) == before
    assert set(await alerts(sessions, "polyglot_mismatch")) == {"R1|fr"}
    assert job.GRAPH.schedule == "0 6 * * 0"


# Real differences found by reading the ASVS 4.0.3 exports, by (rule, locale).
ASVS_DIFFERENCES = {
    # max-age=15724800 became max-age=15778463.
    ("ASVS-V14.4.5", "ru"): {
        "numbers": {"missing": ["15724800"], "extra": ["15778463"]}
    },
    # ISO-8859-1 became ISO-8859-5.
    ("ASVS-V14.4.1", "ru"): {"numbers": {"missing": ["1"], "extra": ["5"]}},
    # "no more than 100 failed attempts" is written out as a word.
    ("ASVS-V2.2.1", "ru"): {"numbers": {"missing": ["100"], "extra": []}},
    # A link to Wikipedia's HMAC article that the source does not have.
    ("ASVS-V6.2.7", "fr"): {
        "urls": {"missing": [], "extra": ["https://en.wikipedia.org/wiki/HMAC"]}
    },
    # A reference to Russian federal law 152-FZ that the source does not make.
    ("ASVS-V6.1.1", "ru"): {"numbers": {"missing": [], "extra": ["152"]}},
}
# Written differently but carrying the same markers.
ASVS_EQUIVALENT = [
    ("ASVS-V2.1.7", "de"),  # 1.000 oder 10.000
    ("ASVS-V2.1.7", "fr"),  # 1 000 ou 10 000
    ("ASVS-V2.4.3", "ar"),  # 100،000 with an Arabic comma
    ("ASVS-V2.7.2", "zh-cn"),  # 10分钟
    ("ASVS-V2.7.2", "ar"),  # 10 دقائق
    ("ASVS-V3.2.3", "ru"),  # раздел V.3.4
    ("ASVS-V3.2.3", "ar"),  # القسم 4.3, the Arabic numbering of section 3.4
    ("ASVS-V3.2.3", "it"),  # HTML5 for HTML 5
    ("ASVS-V2.7.6", "zh-cn"),  # 6 位数字 for "a six digital random number"
    ("ASVS-V8.2.2", "de"),  # an added "HTML5": a small number only
]


@pytest.mark.corpus
async def test_asvs_corpus_flags_the_real_differences_and_few_others(
    sessions, corpus_dir
) -> None:
    """On ASVS 4.0.3 exactly the five differences found by reading are flagged."""
    async with sessions() as session, session.begin():
        await import_asvs(session, corpus_dir / "asvs")

    output = await run_job(sessions)

    found = await alerts(sessions, "polyglot_mismatch")
    flagged = {(a["rule_id"], a["locale"]): a["details"] for a in found.values()}
    for pair, differences in ASVS_DIFFERENCES.items():
        assert flagged.get(pair) == differences, pair
    for pair in ASVS_EQUIVALENT:
        assert pair not in flagged, (pair, flagged[pair])
    assert set(flagged) == set(ASVS_DIFFERENCES)
    assert output["pairs"] > 2_000
    assert output["mismatched"] == len(flagged)
