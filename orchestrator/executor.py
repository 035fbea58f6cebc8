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
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
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
# no-op" for a job that is still queued or running. The first ARGV[1] new jobs
# that are due now are also marked in progress (arq's own lock, as its
# start_jobs sets it) for the enqueuing worker to run itself; the wake-up is
# published only for the rest.
_ENQUEUE_LUA = """
local take = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local created = 0
local taken = {}
for i = 4, #ARGV, 4 do
    local id = ARGV[i]
    if redis.call('SET', KEYS[2] .. id, ARGV[i + 1], 'PX', ARGV[i + 2], 'NX') then
        redis.call('ZADD', KEYS[1], ARGV[i + 3], id)
        created = created + 1
        if #taken < take and tonumber(ARGV[i + 3]) <= now
           and redis.call('SET', KEYS[4] .. id, '1', 'PX', ARGV[3], 'NX') then
            taken[#taken + 1] = id
        end
    end
end
if created > #taken then redis.call('PUBLISH', KEYS[3], created - #taken) end
table.insert(taken, 1, created)
return taken
"""

# arq's start_jobs, for a batch in one round trip: a job is taken when it is
# still in the queue, due, and not in progress elsewhere; at most ARGV[3].
_TAKE_LUA = """
local now = tonumber(ARGV[1])
local want = tonumber(ARGV[3])
local taken = {}
local count = 0
for i = 4, #ARGV do
    if count >= want then break end
    local id = ARGV[i]
    local score = redis.call('ZSCORE', KEYS[1], id)
    if score and tonumber(score) <= now
       and redis.call('SET', KEYS[2] .. id, '1', 'PX', ARGV[2], 'NX') then
        count = count + 1
        taken[#taken + 1] = id
        taken[#taken + 1] = score
    end
end
return taken
"""

_BATCH = 500


async def enqueue_attempts(
    redis: ArqRedis,
    queue_name: str,
    attempts: Sequence[QueuedAttempt],
    *,
    take: int = 0,
    in_progress_ms: int = 0,
) -> tuple[int, list[tuple[str, int]]]:
    """Hand attempts to arq in batches.

    Returns how many jobs were new, and the ids and scores of those taken for
    the caller to run itself: up to ``take`` of the new jobs due now, marked in
    progress for ``in_progress_ms`` as arq marks a job it starts.
    """
    created = 0
    taken: list[tuple[str, int]] = []
    now_ms = int(time.time() * 1000)
    keys = [
        queue_name,
        job_key_prefix,
        wake_channel(queue_name),
        in_progress_key_prefix,
    ]
    for start in range(0, len(attempts), _BATCH):
        argv: list[Any] = [take - len(taken), now_ms, in_progress_ms]
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
        result = await redis.eval(_ENQUEUE_LUA, len(keys), *keys, *argv)  # type: ignore[misc]
        created += int(result[0])
        taken += [(job_id.decode(), now_ms) for job_id in result[1:]]

    return created, taken


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

    Differences from arq's loop:

    * between polls it waits on a wake event (set by a pub/sub message, or by a
      job ending while the queue held more than it could take) with
      ``poll_delay`` as the longest wait;
    * :meth:`start_jobs` takes a whole batch of job ids in one Lua call, with
      the checks and the in-progress key of arq's own (which costs about six
      commands per job);
    * :meth:`hand_off` enqueues an attempt's successors and, where this worker
      has free slots, marks them in progress in the same call and starts them
      here, so a chain's next step needs no wake-up, poll or pick-up;
    * a Redis connection error is logged and retried with backoff instead of
      ending the worker.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self.stopping = False
        # The last poll left due jobs behind for want of free slots.
        self._backlog = False

    @property
    def _in_progress_ms(self) -> int:
        return int(self.in_progress_timeout_s * 1000)

    def _reserve(self, wanted: int) -> int:
        """Count up to ``wanted`` free slots as taken; returns how many."""
        if self.stopping or not self.allow_pick_jobs:
            return 0
        count = max(0, min(wanted, self.max_jobs - self.job_counter))
        self.job_counter += count
        return count

    def _unreserve(self, count: int) -> None:
        self.job_counter -= count

    async def _start_taken(self, job_id: str, score: int) -> None:
        """Run a job whose in-progress key this worker set, in a reserved slot."""
        # The slot is counted already; the semaphore has room while the counter
        # is below max_jobs, so this does not wait.
        await self.sem.acquire()
        task = self.loop.create_task(self.run_job(job_id, score))
        task.add_done_callback(self._job_done)
        self.tasks[job_id] = task

    def _job_done(self, _: asyncio.Task[None]) -> None:
        """A job ended and its slot is free: poll at once if the last poll left
        due jobs behind (arq reads at most ``queue_read_limit`` ids per poll)."""
        self._release_sem_dec_counter_on_complete()
        if self._backlog:
            self.wake.set()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Take as many of ``job_ids`` as there are free slots, in one call."""
        free = self._reserve(len(job_ids))
        # Due jobs may be left behind if every slot is now full, or if this
        # poll read as many ids as it may (the queue may hold more).
        self._backlog = len(job_ids) >= self.queue_read_limit or (
            len(job_ids) > 0 and free == 0
        )
        if not free:
            return
        taken: list[bytes] = []
        try:
            argv = [timestamp_ms(), self._in_progress_ms, free, *job_ids]
            keys = [self.queue_name, in_progress_key_prefix]
            taken = await self.pool.eval(_TAKE_LUA, len(keys), *keys, *argv)  # type: ignore[arg-type,misc]
        finally:
            self._unreserve(free - len(taken) // 2)
        if len(taken) // 2 == free:
            self._backlog = True
        for i in range(0, len(taken), 2):
            await self._start_taken(taken[i].decode(), int(float(taken[i + 1])))

    async def hand_off(self, attempts: Sequence[QueuedAttempt]) -> None:
        """Enqueue attempts, starting here those this worker has room for."""
        due = sum(1 for item in attempts if item.defer_s <= 0)
        reserved = self._reserve(due)
        taken: list[tuple[str, int]] = []
        try:
            _, taken = await enqueue_attempts(
                self.pool,
                self.queue_name,
                attempts,
                take=reserved,
                in_progress_ms=self._in_progress_ms,
            )
        finally:
            self._unreserve(reserved - len(taken))
        for job_id, score in taken:
            await self._start_taken(job_id, score)

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
        self.ctx["worker"] = self
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
