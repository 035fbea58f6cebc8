"""The gemini providers, against a fake Gemini REST API behind httpx.MockTransport."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import numpy as np
import pytest
from pydantic import SecretStr

from orchestrator.config import Settings
from tasks.providers import ClusterSummary, get_providers
from tasks.providers.gemini import (
    BackoffPolicy,
    GeminiCaller,
    GeminiDrafter,
    GeminiEmbedder,
    GeminiEvaluator,
    GeminiRequestError,
    GeminiResponseError,
    GeminiUnavailableError,
    gemini_client,
    gemini_providers,
    is_retryable,
)

API_KEY = "test-key-3f9c1e77b2"


def api_error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    """An error answer shaped like the Gemini API's (google.rpc.Status)."""
    body = {"error": {"code": status, "message": message, "status": code}}
    return httpx.Response(status, json=body, headers=headers)


def generated(payload: Any, finish: str = "STOP") -> httpx.Response:
    """A generateContent answer whose one candidate's text is ``payload``."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    candidate = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "finishReason": finish,
        "index": 0,
    }
    return httpx.Response(200, json={"candidates": [candidate]})


class FakeGeminiApi:
    """Answers like the Gemini REST API; scripted answers are served first.

    ``batchEmbedContents`` returns, for each request, a vector that is not of
    unit length and depends on the text; ``generateContent`` returns
    ``self.answer``. Every request is recorded.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.scripted: list[httpx.Response | Exception] = []
        self.answer: httpx.Response = generated({"verdict": "allow", "reason": "ok"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.scripted:
            step = self.scripted.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        if request.url.path.endswith(":batchEmbedContents"):
            return self._embed(json.loads(request.content))
        if request.url.path.endswith(":generateContent"):
            return self.answer
        return api_error(404, "NOT_FOUND", f"no route for {request.url.path}")

    def _embed(self, body: dict[str, Any]) -> httpx.Response:
        embeddings = []
        for item in body["requests"]:
            text = item["content"]["parts"][0]["text"]
            dim = item.get("outputDimensionality", 8)
            values = [float(len(text) + i) for i in range(dim)]
            embeddings.append({"values": values})
        return httpx.Response(200, json={"embeddings": embeddings})

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


@dataclass
class RecordedSleep:
    """An injectable sleep that records the delays instead of waiting."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)


@pytest.fixture
def api() -> FakeGeminiApi:
    return FakeGeminiApi()


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def caller(api, sleep) -> GeminiCaller:
    client = gemini_client(API_KEY, transport=httpx.MockTransport(api))
    return GeminiCaller(client, BackoffPolicy(sleep=sleep, jitter=lambda: 1.0))


@dataclass
class FakeRule:
    """Just the fields an evaluator reads."""

    id: str
    text: str
    pattern: str | None = None


def cluster(size: int) -> ClusterSummary:
    ids = tuple(f"C-{n:03d}" for n in range(size))
    return ClusterSummary(
        correction_ids=ids,
        summaries=("refunds above 500 EUR were denied", "refund of 700 EUR denied"),
        mean_confidence=0.9,
        mean_similarity=0.85,
        rule_ids=("R-7",),
        analysis_types=("false_positive",),
    )


async def test_embedder_returns_unit_vectors_of_the_requested_dimension(
    api, caller
) -> None:
    """Vectors come back L2-normalised, float32, one row per text, in order."""
    embedder = GeminiEmbedder(caller, dim=16)

    vectors = await embedder.embed(["short", "a much longer text"])

    assert vectors.dtype == np.float32
    assert vectors.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    expected = np.arange(16, dtype=np.float64) + len("short")
    np.testing.assert_allclose(vectors[0], expected / np.linalg.norm(expected))


async def test_embedder_sends_model_texts_and_dimension_in_batches(api, caller) -> None:
    """Texts go out in batches to batchEmbedContents of the configured model."""
    embedder = GeminiEmbedder(caller, "text-embedding-004", dim=8, batch_size=2)
    texts = ["one", "two", "three", "four", "five"]

    await embedder.embed(texts)

    assert [r.url.path.rsplit("/", 1)[-1] for r in api.requests] == [
        "text-embedding-004:batchEmbedContents"
    ] * 3
    sent = [item for body in api.bodies() for item in body["requests"]]
    assert [item["content"]["parts"][0]["text"] for item in sent] == texts
    assert {item["model"] for item in sent} == {"models/text-embedding-004"}
    assert {item["outputDimensionality"] for item in sent} == {8}
    assert {item["taskType"] for item in sent} == {"SEMANTIC_SIMILARITY"}


async def test_embedder_leaves_blank_texts_as_zero_rows_without_sending_them(
    api, caller
) -> None:
    """A blank text is not sent and embeds to the zero row."""
    vectors = await GeminiEmbedder(caller, dim=8).embed(["", "text", "   "])

    sent = [item for body in api.bodies() for item in body["requests"]]
    assert [item["content"]["parts"][0]["text"] for item in sent] == ["text"]
    np.testing.assert_array_equal(vectors[[0, 2]], np.zeros((2, 8)))
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0)


async def test_embedder_model_key_names_model_and_dimension(caller) -> None:
    """The cache key differs per model and dimension, and it compares languages."""
    first = GeminiEmbedder(caller, "gemini-embedding-001", dim=768)
    second = GeminiEmbedder(caller, "text-embedding-004", dim=768)

    assert "gemini-embedding-001" in first.model
    assert first.model != second.model
    assert first.model != GeminiEmbedder(caller, dim=256).model
    assert first.cross_lingual is True


async def test_embedder_refuses_an_answer_with_missing_vectors(api, caller) -> None:
    """An answer with fewer vectors than texts is a clear response error."""
    api.scripted.append(httpx.Response(200, json={"embeddings": [{"values": [1.0]}]}))

    with pytest.raises(GeminiResponseError, match="1 vectors for 2 texts"):
        await GeminiEmbedder(caller, dim=8).embed(["a", "b"])


async def test_drafter_parses_structured_output_and_cites_ids(api, caller) -> None:
    """The JSON answer becomes a DraftRule whose rationale cites every id."""
    api.answer = generated(
        {
            "title": "Refunds above 500 EUR",
            "text": "Allow refunds above 500 EUR when a manager approved them.",
            "rationale": "Reviewers repeatedly overturned denials of refunds.",
        }
    )

    draft = await GeminiDrafter(caller).draft(cluster(3))

    assert draft.title == "Refunds above 500 EUR"
    assert draft.text.startswith("Allow refunds above 500 EUR")
    for correction_id in ("C-000", "C-001", "C-002"):
        assert correction_id in draft.rationale


async def test_drafter_asks_for_json_with_the_cluster_in_the_prompt(
    api, caller
) -> None:
    """The request sets the JSON mime type and schema and names ids and summaries."""
    api.answer = generated({"title": "t", "text": "x", "rationale": "C-000 C-001"})

    await GeminiDrafter(caller, "gemini-2.5-pro", max_cited=2).draft(cluster(5))

    assert api.requests[0].url.path.endswith("/gemini-2.5-pro:generateContent")
    body = api.bodies()[0]
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["required"]) == {"title", "text", "rationale"}
    prompt = body["contents"][0]["parts"][0]["text"]
    assert "C-000, C-001 and 3 more" in prompt
    assert "refund of 700 EUR denied" in prompt
    assert "tools" not in body


async def test_drafter_keeps_a_rationale_that_already_cites(api, caller) -> None:
    """A rationale citing every id is kept as the model wrote it."""
    rationale = "From C-000, C-001 and C-002, all overturned denials."
    api.answer = generated({"title": "t", "text": "x", "rationale": rationale})

    draft = await GeminiDrafter(caller).draft(cluster(3))

    assert draft.rationale == rationale


async def test_drafter_raises_on_output_that_is_not_the_schema(api, caller) -> None:
    """Text that is not the expected JSON is a GeminiResponseError."""
    api.answer = generated("not json at all")

    with pytest.raises(GeminiResponseError, match="not a valid DraftOutput"):
        await GeminiDrafter(caller).draft(cluster(3))


@pytest.mark.parametrize("verdict", ["allow", "deny"])
async def test_evaluator_maps_the_verdict(api, caller, verdict) -> None:
    """The model's verdict and reason become an evaluable EvalResult."""
    api.answer = generated({"verdict": verdict, "reason": "because"})
    rule = FakeRule("R-1", "Deny exports of customer emails.")

    result = await GeminiEvaluator(caller).evaluate(rule, "export all emails")

    assert (result.verdict, result.evaluable, result.reason) == (
        verdict,
        True,
        "because",
    )
    prompt = api.bodies()[0]["contents"][0]["parts"][0]["text"]
    assert "Deny exports of customer emails." in prompt
    assert "export all emails" in prompt


async def test_evaluator_reports_a_blocked_answer_as_not_evaluable(api, caller) -> None:
    """A candidate stopped for safety gives no verdict, with the reason."""
    api.answer = httpx.Response(
        200, json={"candidates": [{"finishReason": "SAFETY", "index": 0}]}
    )

    result = await GeminiEvaluator(caller).evaluate(FakeRule("R-1", "rule"), "x")

    assert result.verdict is None
    assert not result.evaluable
    assert "SAFETY" in result.reason


async def test_evaluator_raises_on_a_verdict_outside_allow_and_deny(
    api, caller
) -> None:
    """A verdict other than allow or deny is a GeminiResponseError."""
    api.answer = generated({"verdict": "maybe", "reason": "unsure"})

    with pytest.raises(GeminiResponseError, match="evaluate"):
        await GeminiEvaluator(caller).evaluate(FakeRule("R-1", "rule"), "x")


async def test_caller_retries_a_rate_limit_then_succeeds(api, caller, sleep) -> None:
    """A 429 RESOURCE_EXHAUSTED is retried once and the second answer is used."""
    api.scripted.append(api_error(429, "RESOURCE_EXHAUSTED", "quota"))

    vectors = await GeminiEmbedder(caller, dim=8).embed(["text"])

    assert len(api.requests) == 2
    assert len(sleep.delays) == 1
    assert vectors.shape == (1, 8)


async def test_caller_honours_retry_after_and_retry_info(api, caller, sleep) -> None:
    """The server's Retry-After header and RetryInfo delay set the waits."""
    api.scripted.append(
        api_error(429, "RESOURCE_EXHAUSTED", "quota", **{"Retry-After": "7"})
    )
    body = {
        "error": {
            "code": 429,
            "message": "quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": "3s",
                }
            ],
        }
    }
    api.scripted.append(httpx.Response(429, json=body))

    await GeminiEmbedder(caller, dim=8).embed(["text"])

    assert sleep.delays == [7.0, 3.0]


async def test_caller_retries_503_twice_with_growing_backoff(
    api, caller, sleep
) -> None:
    """Two 503s are retried with doubling delays, then the answer is used."""
    api.scripted.extend([api_error(503, "UNAVAILABLE", "overloaded")] * 2)
    api.answer = generated({"verdict": "deny", "reason": "r"})

    result = await GeminiEvaluator(caller).evaluate(FakeRule("R-1", "rule"), "x")

    assert result.verdict == "deny"
    assert len(api.requests) == 3
    assert sleep.delays == [1.0, 2.0]


async def test_caller_retries_timeouts_and_connection_errors(
    api, caller, sleep
) -> None:
    """A read timeout, a refused connection and a 502 are all retried."""
    api.scripted.extend(
        [
            httpx.ReadTimeout("slow"),
            httpx.ConnectError("refused"),
            api_error(502, "BAD_GATEWAY", "proxy"),
        ]
    )

    vectors = await GeminiEmbedder(caller, dim=8).embed(["text"])

    assert len(api.requests) == 4
    assert len(sleep.delays) == 3
    assert vectors.shape == (1, 8)


async def test_caller_does_not_retry_a_bad_request(api, caller, sleep) -> None:
    """A 400 raises GeminiRequestError at once, naming the model and the cause."""
    api.scripted.append(api_error(400, "INVALID_ARGUMENT", "text too long"))

    with pytest.raises(GeminiRequestError) as raised:
        await GeminiEmbedder(caller, dim=8).embed(["text"])

    assert len(api.requests) == 1
    assert sleep.delays == []
    assert raised.value.status_code == 400
    message = str(raised.value)
    assert "gemini-embedding-001" in message
    assert "400 INVALID_ARGUMENT" in message
    assert "text too long" in message


async def test_caller_names_the_key_when_it_is_refused(api, caller) -> None:
    """A 403 tells the reader to check GEMINI_API_KEY."""
    api.scripted.append(api_error(403, "PERMISSION_DENIED", "key refused"))

    with pytest.raises(GeminiRequestError, match="GEMINI_API_KEY"):
        await GeminiEvaluator(caller).evaluate(FakeRule("R-1", "rule"), "x")


async def test_caller_gives_up_after_the_last_attempt(api, caller, sleep) -> None:
    """Five 503s in a row raise GeminiUnavailableError after five requests."""
    api.scripted.extend([api_error(503, "UNAVAILABLE", "down")] * 5)

    with pytest.raises(GeminiUnavailableError, match="failed 5 times") as raised:
        await GeminiDrafter(caller).draft(cluster(3))

    assert len(api.requests) == 5
    assert sleep.delays == [1.0, 2.0, 4.0, 8.0]
    assert raised.value.status_code == 503


def test_backoff_caps_delays_and_jitters_within_half() -> None:
    """Delays double up to the cap, and jitter keeps them in [ceiling/2, ceiling]."""
    policy = BackoffPolicy(initial_delay_s=1.0, max_delay_s=5.0, jitter=lambda: 0.0)

    assert [policy.delay_s(n, None) for n in range(1, 6)] == [0.5, 1, 2, 2.5, 2.5]
    assert policy.delay_s(1, 120.0) == 5.0


def test_is_retryable_classifies_the_other_http_stack_too() -> None:
    """httpx2 timeouts are retryable like httpx ones, and a ValueError is not."""
    assert is_retryable(httpx2.ReadTimeout("slow"))
    assert is_retryable(httpx.ConnectError("refused"))
    assert not is_retryable(ValueError("bad"))


async def test_key_is_sent_in_its_header_and_never_logged(api, caller, caplog) -> None:
    """Requests carry x-goog-api-key; no log record mentions the key."""
    caplog.set_level(logging.DEBUG)
    api.scripted.append(api_error(429, "RESOURCE_EXHAUSTED", "quota"))
    api.scripted.append(api_error(400, "INVALID_ARGUMENT", "bad"))

    with pytest.raises(GeminiRequestError):
        await GeminiEmbedder(caller, dim=8).embed(["text"])

    assert {r.headers["x-goog-api-key"] for r in api.requests} == {API_KEY}
    assert all(API_KEY not in str(r.url) for r in api.requests)
    retries = [r for r in caplog.records if getattr(r, "event", "") == "gemini.retry"]
    assert len(retries) == 1
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(record.__dict__)


def test_get_providers_builds_gemini_providers_from_settings() -> None:
    """LLM_PROVIDER=gemini with a key gives the three gemini providers."""
    settings = Settings(llm_provider="gemini", gemini_api_key=SecretStr(API_KEY))

    providers = get_providers(settings)

    assert providers.name == "gemini"
    assert isinstance(providers.embedder, GeminiEmbedder)
    assert isinstance(providers.drafter, GeminiDrafter)
    assert isinstance(providers.evaluator, GeminiEvaluator)
    assert API_KEY not in repr(providers)


def test_get_providers_without_a_key_names_gemini_api_key() -> None:
    """LLM_PROVIDER=gemini without GEMINI_API_KEY is a clear error naming it."""
    settings = Settings(llm_provider="gemini", gemini_api_key=None)

    with pytest.raises(ValueError, match="GEMINI_API_KEY"):
        get_providers(settings)


def test_gemini_providers_refuse_an_empty_key() -> None:
    """A blank key is refused before any request, naming GEMINI_API_KEY."""
    with pytest.raises(ValueError, match="GEMINI_API_KEY is empty"):
        gemini_providers(SecretStr("  "))
