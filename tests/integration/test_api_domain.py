"""The status API's domain endpoints: alerts, reviews, proposals, graphs, probes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from graphs import all_graphs
from tests.support.api import AUTH, api_client, seed_domain
from tests.support.engine import Harness, harness, wait_for


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness(all_graphs(), db_url, redis_url, queue_name) as hh:
        await seed_domain(hh.client.sessions)
        yield hh


async def _rows(h: Harness, query: str, **params: Any) -> list[tuple[Any, ...]]:
    async with h.client.sessions() as s:
        return [tuple(r) for r in await s.execute(text(query), params)]


async def test_api_alerts_list_filters_and_pages(h: Harness) -> None:
    """Alerts list newest first, filter by status, kind, severity and rule, and
    page with an opaque cursor until next_cursor is null."""
    async with api_client(h) as api:
        everything = (await api.get("/api/v1/alerts")).json()
        counts = {
            query: len((await api.get(f"/api/v1/alerts?{query}")).json()["items"])
            for query in (
                "status=open",
                "severity=critical",
                "rule_id=R2",
                "kind=dormant",
                "status=open&rule_id=R1",
            )
        }
        pages, cursor = [], None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/api/v1/alerts", params=params)).json()
            pages.append([a["id"] for a in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        bad_status = await api.get("/api/v1/alerts?status=closed")
        bad_cursor = await api.get("/api/v1/alerts?cursor=bm9wZQ")
        other_cursor = await api.get(
            "/api/v1/runs",
            params={
                "cursor": (await api.get("/api/v1/alerts?limit=1")).json()[
                    "next_cursor"
                ]
            },
        )
        bad_limits = [
            (await api.get(f"/api/v1/alerts?limit={n}")).status_code for n in (0, 501)
        ]

    ids = [a["id"] for a in everything["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 3
    assert everything["next_cursor"] is None
    assert counts == {
        "status=open": 2,
        "severity=critical": 1,
        "rule_id=R2": 1,
        "kind=dormant": 1,
        "status=open&rule_id=R1": 1,
    }
    assert pages == [[ids[0]], [ids[1]], [ids[2]]]
    assert bad_status.status_code == 422
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["code"] == "bad_cursor"
    assert other_cursor.status_code == 400
    assert bad_limits == [422, 422]


async def test_api_alert_acknowledge_then_resolve(h: Harness) -> None:
    """An open alert can be acknowledged once, then resolved once; each change is
    recorded with its actor and note, and a repeat is a 409 naming who did it."""
    (alert_id,) = (await _rows(h, "SELECT id FROM alerts WHERE kind = 'dormant'"))[0]
    base = f"/api/v1/alerts/{alert_id}"
    async with api_client(h) as api:
        ack = await api.post(
            f"{base}/acknowledge", json={"note": "looking"}, headers=AUTH
        )
        ack_again = await api.post(f"{base}/acknowledge", headers=AUTH)
        resolved = await api.post(
            f"{base}/resolve", json={"actor": "carol"}, headers=AUTH
        )
        resolved_again = await api.post(f"{base}/resolve", headers=AUTH)
        unknown = await api.post("/api/v1/alerts/999999/resolve", headers=AUTH)
        out_of_range = await api.post(f"/api/v1/alerts/{2**63}/resolve", headers=AUTH)

    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == "tester"
    assert ack_again.status_code == 409
    assert "already acknowledged by tester" in ack_again.json()["detail"]
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_by"] == "carol"
    assert resolved_again.status_code == 409
    assert unknown.status_code == 404
    assert out_of_range.status_code == 422
    assert await _rows(
        h, "SELECT actor, action, subject, details FROM actions ORDER BY id"
    ) == [
        ("tester", "acknowledge_alert", f"alert/{alert_id}", {"note": "looking"}),
        ("carol", "resolve_alert", f"alert/{alert_id}", {"note": None}),
    ]


async def test_api_approving_a_proposal_creates_one_rule_once(h: Harness) -> None:
    """Approval creates one experimental rule with an id derived from the proposal;
    approving again, even concurrently, is a 409 and never a second rule."""
    url = "/api/v1/feedback/proposals/P-1/approve"
    body = {"reviewer": "alice", "note": "good catch"}
    async with api_client(h) as api:
        first, second = await asyncio.gather(
            api.post(url, json=body, headers=AUTH),
            api.post(url, json=body, headers=AUTH),
        )
        third = await api.post(url, json=body, headers=AUTH)
        dismiss = await api.post(
            "/api/v1/feedback/proposals/P-1/dismiss", json=body, headers=AUTH
        )
        listing = (await api.get("/api/v1/feedback/proposals?status=approved")).json()

    answers = sorted([first, second], key=lambda r: r.status_code)
    assert [r.status_code for r in answers] == [200, 409]
    approved = answers[0].json()
    assert approved["status"] == "approved"
    assert approved["rule_id"] == "R-P-1"
    assert approved["reviewed_by"] == "alice"
    assert "already approved by alice" in answers[1].json()["detail"]
    assert third.status_code == 409
    assert dismiss.status_code == 409
    assert [p["id"] for p in listing["items"]] == ["P-1"]
    assert await _rows(
        h,
        "SELECT id, maturity, status, scope, effect, locale, origin_proposal_id"
        " FROM rules WHERE source = 'proposal'",
    ) == [("R-P-1", "experimental", "active", "security", "deny", "en", "P-1")]
    assert await _rows(h, "SELECT actor, action FROM actions") == [
        ("tester", "approve_proposal")
    ]


async def test_api_dismiss_and_unknown_proposals(h: Harness) -> None:
    """Dismissing a pending proposal works once; unknown ids are 404; a body
    without the reviewer's name is 422."""
    async with api_client(h) as api:
        dismissed = await api.post(
            "/api/v1/feedback/proposals/P-2/dismiss",
            json={"reviewer": "dan"},
            headers={"Authorization": AUTH["Authorization"]},
        )
        unknown = await api.post(
            "/api/v1/feedback/proposals/P-404/approve",
            json={"reviewer": "dan"},
            headers=AUTH,
        )
        nameless = await api.post(
            "/api/v1/feedback/proposals/P-1/approve", json={}, headers=AUTH
        )
        pending = (await api.get("/api/v1/feedback/proposals?status=pending")).json()

    assert dismissed.status_code == 200
    assert dismissed.json()["status"] == "dismissed"
    assert unknown.status_code == 404
    assert nameless.status_code == 422
    assert [p["id"] for p in pending["items"]] == ["P-1"]
    assert await _rows(h, "SELECT actor, action FROM actions") == [
        ("dan", "dismiss_proposal")
    ]


async def test_api_review_sets_last_review_and_clears_request(h: Harness) -> None:
    """A recorded review sets the rule's last review and clears its request;
    unknown rules are 404 and reviews in the future or without a zone 422."""
    async with api_client(h) as api:
        review = await api.post(
            "/api/v1/rules/R1/reviews",
            json={"reviewer": "erin", "at": "2026-11-20T10:00:00Z", "note": "ok"},
            headers=AUTH,
        )
        unknown = await api.post(
            "/api/v1/rules/R404/reviews", json={"reviewer": "erin"}, headers=AUTH
        )
        future = await api.post(
            "/api/v1/rules/R1/reviews",
            json={"reviewer": "erin", "at": "2999-01-01T00:00:00Z"},
            headers=AUTH,
        )
        naive = await api.post(
            "/api/v1/rules/R1/reviews",
            json={"reviewer": "erin", "at": "2026-11-20T10:00:00"},
            headers=AUTH,
        )

    assert review.status_code == 201, review.text
    assert review.json()["reviewed_at"] == "2026-11-20T10:00:00Z"
    assert unknown.status_code == 404
    assert future.status_code == 422
    assert naive.status_code == 422
    rows = await _rows(
        h,
        "SELECT last_reviewed_at IS NOT NULL, review_requested_at FROM rules WHERE id = 'R1'",
    )
    assert rows == [(True, None)]
    actions = await _rows(h, "SELECT actor, action, subject FROM actions ORDER BY id")
    assert actions == [
        ("erin", "record_review", "R1"),
        ("tester", "submit_review", "R1"),
    ]


async def test_api_graphs_show_schedules_and_pause_resume(h: Harness) -> None:
    """Graphs list their schedule, paused flag and next slot; pausing and resuming
    a scheduled graph is recorded; an unscheduled graph cannot be paused."""
    async with api_client(h) as api:
        listing = (await api.get("/api/v1/graphs?limit=500")).json()
        detail = (await api.get("/api/v1/graphs/cluster_corrections")).json()
        paused = await api.post(
            "/api/v1/graphs/cluster_corrections/pause", headers=AUTH
        )
        after_pause = {
            g["name"]: g
            for g in (await api.get("/api/v1/graphs?limit=500")).json()["items"]
        }
        resumed = await api.post(
            "/api/v1/graphs/cluster_corrections/resume", headers=AUTH
        )
        unscheduled = await api.post(
            "/api/v1/graphs/propagate_norm_amendment/pause", headers=AUTH
        )
        unknown = await api.get("/api/v1/graphs/nope")

    names = [g["name"] for g in listing["items"]]
    assert names == sorted(names)
    assert {"cluster_corrections", "propagate_norm_amendment"} <= set(names)
    assert detail["schedule"] == "0 5 * * *"
    assert detail["next_slot"].endswith("05:00:00Z")
    assert next(s["key"] for s in detail["steps"]) == "fetch"
    assert detail["steps"][0]["retry"]["max_attempts"] == 3
    assert ["fetch", "embed"] in detail["edges"]
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert after_pause["cluster_corrections"]["paused"] is True
    assert resumed.json()["paused"] is False
    assert unscheduled.status_code == 409
    assert unknown.status_code == 404
    assert await _rows(h, "SELECT actor, action, subject FROM actions ORDER BY id") == [
        ("tester", "pause", "cluster_corrections"),
        ("tester", "resume", "cluster_corrections"),
    ]


async def test_api_backfill_runs_each_missing_slot_once(h: Harness) -> None:
    """A backfill starts one scheduled run per slot in the range, none the second
    time; reversed, future or oversize ranges are refused with 422."""
    url = "/api/v1/graphs/cluster_corrections/backfill"
    body = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-03T00:00:00Z"}
    async with api_client(h) as api:
        first = await api.post(url, json=body, headers=AUTH)
        second = await api.post(url, json=body, headers=AUTH)
        refused = [
            await api.post(url, json=b, headers=AUTH)
            for b in (
                {"from": body["to"], "to": body["from"]},
                {"from": "2026-11-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"},
                {"from": "1971-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
                {"from": "2026-11-01T00:00:00", "to": "2026-11-02T00:00:00Z"},
            )
        ]

    assert first.status_code == 202, first.text
    assert (first.json()["slots"], first.json()["created"]) == (2, 2)
    assert [r["logical_time"] for r in first.json()["runs"]] == [
        "2026-11-01T05:00:00Z",
        "2026-11-02T05:00:00Z",
    ]
    assert (second.json()["slots"], second.json()["created"]) == (2, 0)
    assert [r.status_code for r in refused] == [422, 422, 422, 422]
    assert "more than 100 slots" in refused[2].json()["detail"]
    assert await _rows(h, "SELECT count(*), min(trigger) FROM runs") == [
        (2, "schedule")
    ]


def _ready(api: Any) -> Any:
    async def probe() -> Any:
        response = await api.get("/readyz")
        return response if response.status_code == 200 else None

    return probe


async def test_api_readyz_names_the_missing_worker(h: Harness) -> None:
    """/readyz is 503 naming the worker check until a worker heart-beats."""
    async with api_client(h) as api:
        alive = await api.get("/healthz")
        before = await api.get("/readyz")
        await h.start_worker()
        after = await wait_for(_ready(api))

    assert alive.json() == {"status": "ok"}
    assert before.status_code == 503
    checks = before.json()["checks"]
    assert (checks["postgres"]["ok"], checks["redis"]["ok"]) == (True, True)
    assert checks["worker"]["ok"] is False
    assert "no worker heart-beat" in checks["worker"]["detail"]
    assert after.status_code == 200, after.text
    assert after.json()["status"] == "ready"


async def test_api_reads_can_require_the_token(h: Harness) -> None:
    """With API_READ_TOKEN_REQUIRED reads need the token; probes stay open."""
    async with api_client(h, api_read_token_required=True) as api:
        anonymous = await api.get("/api/v1/runs")
        with_token = await api.get("/api/v1/runs", headers=AUTH)
        probe = await api.get("/healthz")

    assert anonymous.status_code == 401
    assert with_token.status_code == 200
    assert probe.status_code == 200
