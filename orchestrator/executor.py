"""The arq glue: job format, batched enqueue, the wake channel and the worker.

Each attempt is one arq job whose id is derived from run, step and attempt and
whose arguments are those three ids, serialised as JSON (never pickle).

Hand-off without polling: arq finds work by polling its queue. Our worker keeps
arq's poll as a slow fallback (``poll_delay``, default 0.5 s) and is woken at once
by a Redis pub/sub message that every enqueue publishes on ``<queue>:wake``. An
idle worker therefore blocks on a socket instead of spinning, and a ready
successor starts within the time of a few Redis round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix
from arq.jobs import serialize_job
from arq.worker import Function, Worker, func
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.attempt import Runtime, execute_attempt
from orchestrator.state import QueuedAttempt

logger = logging.getLogger(__name__)

TASK_FUNCTION = "run_attempt"
# arq's own timeout only bounds a stuck worker; steps time out on their own.
ARQ_JOB_TIMEOUT_S = 24 * 3600
EXPIRES_EXTRA_MS = 24 * 3600 * 1000


def json_dumps(value: Any) -> bytes:
    """Serialise an arq job or result as JSON."""
    return json.dumps(value, default=_unserialisable).encode()


def _unserialisable(value: Any) -> str:
    # arq stores a failed job's exception as its result: keep its text, not it.
    return f"{type(value).__name__}: {value}"


def json_loads(raw: bytes) -> Any:
    """Deserialise JSON read from Redis (no code can run from it)."""
    return json.loads(raw)


def wake_channel(queue_name: str) -> str:
    return f"{queue_name}:wake"


# One round trip for a whole batch: SET NX keeps arq's "a duplicate enqueue is a
# no-op" for a job that is still queued or running.
_ENQUEUE_LUA = """
local created = 0
for i = 1, #ARGV, 4 do
    local id = ARGV[i]
    if redis.call('SET', KEYS[2] .. id, ARGV[i + 1], 'PX', ARGV[i + 2], 'NX') then
        redis.call('ZADD', KEYS[1], ARGV[i + 3], id)
        created = created + 1
    end
end
if created > 0 then redis.call('PUBLISH', KEYS[3], created) end
return created
"""

_BATCH = 500


async def enqueue_attempts(
    redis: ArqRedis, queue_name: str, attempts: Sequence[QueuedAttempt]
) -> int:
    """Hand attempts to arq in batches; returns how many jobs were new."""
    created = 0
    now_ms = int(time.time() * 1000)
    keys = [queue_name, job_key_prefix, wake_channel(queue_name)]
    for start in range(0, len(attempts), _BATCH):
        argv: list[Any] = []
        for item in attempts[start : start + _BATCH]:
            score = now_ms + int(item.defer_s * 1000)
            payload = serialize_job(
                TASK_FUNCTION,
                (str(item.run_id), item.step_key, item.attempt),
                {},
                None,
                now_ms,
                serializer=json_dumps,
            )
            argv += [item.job_id, payload, score - now_ms + EXPIRES_EXTRA_MS, score]
        result = redis.eval(_ENQUEUE_LUA, len(keys), *keys, *argv)
        created += int(await result)  # type: ignore[misc]

    return created


async def run_attempt(
    ctx: dict[str, Any], run_id: str, step_key: str, attempt: int
) -> None:
    """The one arq function: run one attempt of one step."""
    runtime: Runtime = ctx["runtime"]
    key = (run_id, step_key, attempt)
    in_flight: set[tuple[str, str, int]] = ctx["in_flight"]
    in_flight.add(key)
    try:
        await execute_attempt(runtime, uuid.UUID(run_id), step_key, int(attempt))
    finally:
        in_flight.discard(key)
        # A slot is free: poll again now rather than after the fallback delay,
        # since arq reads at most queue_read_limit ids per poll.
        wake: asyncio.Event | None = ctx.get("wake")
        if wake is not None:
            wake.set()


def attempt_function() -> Function:
    """``run_attempt`` as arq registers it: no stored result, no arq retries."""
    return func(
        run_attempt,
        name=TASK_FUNCTION,
        keep_result=0,
        timeout=ARQ_JOB_TIMEOUT_S,
        # Each orchestrator attempt is its own job; a job_try above 1 is only a
        # redelivery, which the attempt itself recognises, so never refuse one.
        max_tries=1_000_000,
    )


class OrchestratorWorker(Worker):
    """arq's Worker, woken by the enqueue channel and kept alive through outages.

    Differences from arq's loop: between polls it waits on a wake event (set by a
    pub/sub message or by this process's own enqueues) with ``poll_delay`` as the
    longest wait; and a Redis connection error is logged and retried with backoff
    instead of ending the worker.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self.stopping = False

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
        logger.info(
            "worker starting on queue %s",
            self.queue_name,
            extra={"event": "worker.started"},
        )
        self.ctx["redis"] = self.pool
        self.ctx["wake"] = self.wake
        if self.on_startup:
            await self.on_startup(self.ctx)
        self._listener = asyncio.create_task(self._listen())
        try:
            await self._loop()
        finally:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _loop(self) -> None:
        failures = 0
        while not self.stopping:
            self.wake.clear()
            try:
                await self._poll_iteration()
                if self.burst and await self._burst_finished():
                    return
                failures = 0
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                failures += 1
                await self._back_off("polling", exc, failures)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_delay_s):
                    await self.wake.wait()

    async def _burst_finished(self) -> bool:
        if await self.pool.zcard(self.queue_name):
            return False
        await asyncio.gather(*self.tasks.values())

        return True

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                async with self.pool.pubsub() as pubsub:
                    await pubsub.subscribe(wake_channel(self.queue_name))
                    failures = 0
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.wake.set()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                failures += 1
                await self._back_off("listening for wake-ups", exc, failures)

    async def _back_off(self, doing: str, exc: BaseException, failures: int) -> None:
        delay = min(30.0, 0.2 * 2 ** min(failures, 8))
        logger.warning(
            "redis unavailable while %s (%s), retrying in %.1fs",
            doing,
            type(exc).__name__,
            delay,
            extra={"event": "worker.redis_unavailable"},
        )
        await asyncio.sleep(delay)


def redis_settings(redis_url: str) -> RedisSettings:
    """arq connection settings from a ``redis://`` or ``unix://`` URL."""
    settings = RedisSettings.from_dsn(redis_url)
    settings.conn_retries = 30
    settings.conn_retry_delay = 1

    return settings
