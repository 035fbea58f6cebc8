"""The API without I/O: token gate, size limit, error mapping and OpenAPI.

The orchestrator client is a small stand-in that records calls or raises the
engine's errors, handed to the app through its ``client`` argument.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from api import create_app
from orchestrator.config import Settings
from orchestrator.engine import TriggerRejectedError
from orchestrator.errors import (
    RunFinishedError,
    RunNotFoundError,
    StepNotFoundError,
    StepNotRetryableError,
)

TOKEN = "s3cret-token"
RUN = uuid.UUID("8f3c0000-0000-4000-8000-000000000001")


class StandIn:
    """Answers retry and cancel by raising what it was told to; records calls."""

    def __init__(self, error: Exception | None = None) -> None:
        self.graphs: dict[str, Any] = {}
        self.sessions = None
        self.error = error
        self.calls: list[tuple[str, ...]] = []

    async def retry(self, run_id: uuid.UUID, step_key: str, actor: str) -> None:
        self.calls.append(("retry", str(run_id), step_key, actor))
        if self.error is not None:
            raise self.error

    async def cancel(self, run_id: uuid.UUID, actor: str) -> None:
        self.calls.append(("cancel", str(run_id), actor))
        if self.error is not None:
            raise self.error


def _app(client: StandIn, **settings: Any) -> Any:
    values: dict[str, Any] = {
        "api_token": TOKEN,
        "database_url": None,
        "redis_url": None,
        **settings,
    }
    return create_app(Settings(**values), client=client, max_body_bytes=1000)  # type: ignore[arg-type]


@pytest.fixture
async def stand_in() -> StandIn:
    return StandIn(RunFinishedError(RUN, "succeeded"))


@pytest.fixture
async def api(stand_in: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(stand_in))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Actor": "ann"}
CANCEL = f"/api/v1/runs/{RUN}/cancel"


async def test_api_gate_refuses_changes_without_the_right_token(
    api: httpx.AsyncClient, stand_in: StandIn
) -> None:
    """A change without a token, with a wrong one or another scheme is 401 and
    never reaches the orchestrator."""
    answers = [
        await api.post(CANCEL, headers=headers)
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": "Bearer "},
            {"Authorization": f"Bearer {TOKEN}x"},
        )
    ]

    assert [r.status_code for r in answers] == [401] * 5
    assert answers[0].json()["code"] == "unauthenticated"
    assert answers[0].headers["www-authenticate"].startswith("Bearer")
    assert stand_in.calls == []


async def test_api_gate_refuses_changes_when_no_token_is_configured() -> None:
    """With no API_TOKEN a change is 403 with the reason, whatever is sent."""
    stand_in = StandIn()
    transport = httpx.ASGITransport(app=_app(stand_in, api_token=None))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        response = await api.post(CANCEL, headers=AUTH)

    assert response.status_code == 403
    assert "no API_TOKEN is configured" in response.json()["detail"]
    assert stand_in.calls == []


async def test_api_gate_caps_the_body_size(
    api: httpx.AsyncClient, stand_in: StandIn
) -> None:
    """A body over the limit is 413, declared or streamed in chunks."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 300

    declared = await api.post(CANCEL, content=b"{" + b" " * 2000 + b"}", headers=AUTH)
    streamed = await api.post(CANCEL, content=chunks(), headers=AUTH)

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "larger than 1,000 bytes" in streamed.json()["detail"]
    assert stand_in.calls == []


async def test_api_probe_and_reads_stay_open(api: httpx.AsyncClient) -> None:
    """/healthz and the OpenAPI document need no token."""
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/openapi.json")).status_code == 200


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (RunNotFoundError(RUN), 404, "run_not_found"),
        (StepNotFoundError(RUN, "embed"), 404, "step_not_found"),
        (
            StepNotRetryableError("step 'embed' has status succeeded", RUN, "embed"),
            409,
            "step_not_retryable",
        ),
        (RunFinishedError(RUN, "failed"), 409, "run_finished"),
        (TriggerRejectedError("bad parameters"), 422, "rejected"),
        (RedisConnectionError("refused"), 503, "unavailable"),
    ],
)
async def test_api_maps_engine_errors_to_statuses(
    error: Exception, status: int, code: str
) -> None:
    """Each engine error becomes its HTTP status with the message as detail."""
    stand_in = StandIn(error)
    transport = httpx.ASGITransport(app=_app(stand_in))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        response = await api.post(f"/api/v1/runs/{RUN}/steps/embed/retry", headers=AUTH)

    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    if status != 503:
        assert body["detail"] == str(error)
    assert stand_in.calls == [("retry", str(RUN), "embed", "ann")]


async def test_api_changes_need_an_actor(
    api: httpx.AsyncClient, stand_in: StandIn
) -> None:
    """A change that names nobody is 422; the body's actor wins over the header."""
    nameless = await api.post(CANCEL, headers={"Authorization": AUTH["Authorization"]})
    named = await api.post(CANCEL, json={"actor": "bea"}, headers=AUTH)

    assert nameless.status_code == 422
    assert nameless.json()["code"] == "actor_required"
    assert named.status_code == 409
    assert stand_in.calls == [("cancel", str(RUN), "bea")]


async def test_api_validation_errors_name_each_field(api: httpx.AsyncClient) -> None:
    """Malformed input is 422 with a sentence and one item per problem."""
    response = await api.post(
        "/api/v1/runs/not-a-uuid/cancel", json={"actor": "", "x": 1}, headers=AUTH
    )

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert {tuple(e["loc"]) for e in body["errors"]} >= {
        ("path", "run_id"),
        ("body", "x"),
    }
    assert "path.run_id" in body["detail"]


def test_api_openapi_documents_every_operation() -> None:
    """The schema lists every endpoint; every change declares the bearer scheme
    and its refusals, every list its limit and cursor."""
    schema = _app(StandIn()).openapi()
    operations = {
        (method.upper(), path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }

    assert len(operations) == 24
    assert "HTTPValidationError" not in json.dumps(schema)
    for (method, path), op in operations.items():
        codes = set(op["responses"])
        if method == "POST":
            assert op["security"] == [{"HTTPBearer": []}], path
            assert {"401", "403", "413", "422"} <= codes, path
        params = {p["name"] for p in op.get("parameters", [])}
        if method == "GET" and path in {
            "/api/v1/graphs",
            "/api/v1/runs",
            "/api/v1/alerts",
            "/api/v1/feedback/proposals",
        }:
            assert {"limit", "cursor"} <= params, path
            ref = op["responses"]["200"]["content"]["application/json"]["schema"]
            assert ref["$ref"].split("/")[-1].startswith("Page_"), path
