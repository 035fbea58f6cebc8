"""Posting JSON to a webhook with retries and an idempotency key.

Every attempt of one delivery carries the same ``Idempotency-Key`` header, so a
receiver that saw an earlier attempt (whose answer was lost, or whose sender's
transaction rolled back afterwards) can recognise the repeat. The URL is never
logged: webhook URLs often carry a token.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from orchestrator.config import Settings, get_settings
from orchestrator.context import StepContext

logger = logging.getLogger(__name__)

# Answers worth trying again: the receiver may accept the same request later.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
ATTEMPTS = 3
BACKOFF = timedelta(seconds=0.5)
REQUEST_TIMEOUT = timedelta(seconds=10)


class WebhookDeliveryError(Exception):
    """A webhook refused a delivery, or did not accept it after every attempt."""


@dataclass(frozen=True)
class Delivery:
    """A delivery the receiver accepted: its answer and the attempts it took."""

    status_code: int
    attempts: int


def settings_of(ctx: StepContext) -> Settings:
    """The worker's settings, or the process-wide ones outside a worker."""
    settings = ctx.resources.get("settings")

    return settings if isinstance(settings, Settings) else get_settings()


async def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str,
    attempts: int = ATTEMPTS,
    backoff: timedelta = BACKOFF,
    request_timeout: timedelta = REQUEST_TIMEOUT,
) -> Delivery:
    """POST ``payload`` as JSON, retrying network errors and retryable answers.

    Waits ``backoff``, then twice that, and so on, between attempts.

    Raises:
        WebhookDeliveryError: a non-retryable answer (a 4xx other than 408, 425
            and 429), or no success after ``attempts`` attempts.
    """
    headers = {"Idempotency-Key": idempotency_key}
    async with httpx.AsyncClient(timeout=request_timeout.total_seconds()) as client:
        problem = "no attempt was made"
        for attempt in range(1, attempts + 1):
            outcome = await _attempt(client, url, payload, headers)
            if isinstance(outcome, int):
                return Delivery(outcome, attempt)
            problem = outcome
            if attempt < attempts:
                delay = backoff * 2 ** (attempt - 1)
                logger.warning(
                    "webhook attempt %d of %d for %s failed (%s), retrying in %.1fs",
                    attempt,
                    attempts,
                    idempotency_key,
                    problem,
                    delay.total_seconds(),
                    extra={"event": "webhook.retrying"},
                )
                await asyncio.sleep(delay.total_seconds())
    msg = (
        f"webhook delivery {idempotency_key} failed after {attempts} attempts; "
        f"last problem: {problem}"
    )
    raise WebhookDeliveryError(msg)


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
) -> int | str:
    """One POST: the status code on success, else a description of the problem."""
    try:
        response = await client.post(url, json=payload, headers=headers)
    except httpx.TransportError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.is_success:
        return response.status_code
    if response.status_code not in RETRYABLE_STATUS:
        msg = (
            f"webhook refused delivery {headers['Idempotency-Key']} with HTTP "
            f"{response.status_code}; check the receiver's configuration"
        )
        raise WebhookDeliveryError(msg)

    return f"HTTP {response.status_code}"
