"""The arq glue: job format, batched enqueue, the wake channel and the worker.

Each attempt is one arq job whose id is derived from run, step and attempt and
whose arguments are those three ids, serialised as JSON (never pickle).

Hand-off without polling: arq finds work by polling its queue. Our worker keeps
arq's poll as a slow fallback (``poll_delay``, default 0.5 s) and is woken at once
by a Redis pub/sub message that every enqueue publishes on ``<queue>:wake``. An
idle worker therefore blocks on a socket instead of spinning, and a ready
successor starts within the time of a few Redis round trips.

Each slot of a busy worker feeds itself: the one script call that ends an
attempt's job (arq's keys removed, as arq's ``finish_job`` removes them) also
takes the next due job for the same slot. An attempt costs one Redis round trip
of its own; arq's path costs about a dozen commands per job (pick-up under
WATCH/MULTI, the job read, the retry counter, the finish transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from arq.worker import Function, Worker, func
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.attempt import Runtime, execute_attempt
from orchestrator.state import QueuedAttempt, parse_job_id

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


class LuaScript:
    """A Lua script sent by its SHA1 (``EVALSHA``), and in full once per server.

    redis-py's ``register_script`` binds a script to one client when it is
    made; these are module constants shared by every pool of the process.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, redis: ArqRedis, keys: Sequence[str], *args: Any) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:
            # A new or restarted server: EVAL runs the script and caches it.
            return await redis.eval(self.source, len(keys), *keys, *args)  # type: ignore[misc]


# One round trip for a whole batch: SET NX keeps arq's "a duplicate enqueue is a
# no-op" for a job that is still queued or running. The first ARGV[1] new jobs
# that are due now are also marked in progress (arq's own lock, as its
# start_jobs sets it) for the enqueuing worker to run itself; the wake-up is
# published only for the rest.
_ENQUEUE_LUA = LuaScript("""
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
""")

# The first ARGV want (at most) due jobs of the queue that no worker has in
# progress, marked in progress as arq's start_jobs marks a job it starts; ids and
# scores in turn. arq keeps a running job in its queue until it ends, so the scan
# passes over the jobs in progress at the head, up to ``limit`` ids, as arq's
# own poll reads at most ``queue_read_limit``.
_TAKE_DUE = """
local function take_due(queue, in_progress, now, lock_ms, want, limit)
    local taken = {}
    if want <= 0 then return taken end
    local ids = redis.call('ZRANGEBYSCORE', queue, '-inf', now,
                           'WITHSCORES', 'LIMIT', 0, limit)
    for i = 1, #ids, 2 do
        if redis.call('SET', in_progress .. ids[i], '1', 'PX', lock_ms, 'NX') then
            taken[#taken + 1] = ids[i]
            taken[#taken + 1] = ids[i + 1]
            if #taken >= 2 * want then break end
        end
    end
    return taken
end
"""

# A poll: take up to ARGV[3] due jobs.
_POLL_LUA = LuaScript(
    _TAKE_DUE
    + """
return take_due(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]),
                tonumber(ARGV[4]))
"""
)

# The end of an attempt's job, then a take for the slot it frees. Done
# (ARGV[2] = '1'): the job's keys and queue entry go, as in arq's finish_job. Not
# done (the worker is shutting down): only the in-progress mark goes, so that any
# worker runs the job again at once, as arq does for a cancelled job.
_FINISH_LUA = LuaScript(
    _TAKE_DUE
    + """
local id = ARGV[1]
if ARGV[2] == '1' then
    redis.call('DEL', KEYS[2] .. id, KEYS[3] .. id, KEYS[4] .. id)
    redis.call('ZREM', KEYS[5], id)
    redis.call('ZREM', KEYS[1], id)
else
    redis.call('DEL', KEYS[2] .. id)
end
return take_due(KEYS[1], KEYS[2], ARGV[3], ARGV[4], tonumber(ARGV[5]),
                tonumber(ARGV[6]))
"""
)

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
        result = await _ENQUEUE_LUA(redis, keys, *argv)
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

    * between polls it waits on a wake event (set by a pub/sub message) with
      ``poll_delay`` as the longest wait;
    * a poll takes as many due jobs as there are free slots in one script call
      (arq reads the queue, then checks and marks each job under WATCH/MULTI);
    * an attempt's job runs without arq's job runner (its id says what to
      run; the attempt itself counts deliveries and enforces its timeout), and
      the call that ends it takes the next due job for the same slot, so a
      busy worker does not poll at all;
    * :meth:`hand_off` enqueues an attempt's successors and, where this worker
      has free slots, marks them in progress in the same call and starts them
      here, so a chain's next step needs no wake-up, poll or pick-up;
    * a Redis connection error is logged and retried with backoff instead of
      ending the worker.

    Jobs that are not attempts (the schedule's cron tick, or a job enqueued by
    hand with an id of its own) go through arq's own ``run_job``.
    ``max_burst_jobs`` is not supported.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self.stopping = False

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
        task = self.loop.create_task(self._run_slot(job_id, score))
        task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
        self.tasks[job_id] = task

    async def _start_all(self, taken: Sequence[tuple[str, int]]) -> None:
        for job_id, score in taken:
            await self._start_taken(job_id, score)

    def _take_args(self, want: int) -> list[Any]:
        """The arguments ``take_due`` reads after a script's own."""
        return [timestamp_ms(), self._in_progress_ms, want, self.queue_read_limit]

    async def _poll_iteration(self) -> None:
        """Take due jobs for the free slots, then arq's housekeeping."""
        free = self._reserve(self.max_jobs)
        if free:
            taken: list[tuple[str, int]] = []
            try:
                keys = [self.queue_name, in_progress_key_prefix]
                taken = _pairs(await _POLL_LUA(self.pool, keys, *self._take_args(free)))
            finally:
                self._unreserve(free - len(taken))
            await self._start_all(taken)
        if self.allow_abort_jobs:
            await self._cancel_aborted_jobs()
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                # Raises what the slot raised, as arq's own poll does.
                task.result()
        await self.heart_beat()

    async def _run_slot(self, job_id: str, score: int) -> None:
        """Run a job, then the due jobs its end takes for this slot, in turn."""
        current = asyncio.current_task()
        assert current is not None
        while True:
            ids = parse_job_id(job_id)
            if ids is None:
                await self.run_job(job_id, score)
                return
            done = await self._run_attempt_job(job_id, ids, current)
            reserved = self._reserve(self.max_jobs) if done else 0
            taken: list[tuple[str, int]] = []
            try:
                taken = await asyncio.shield(
                    self._finish(job_id, done=done, want=reserved + int(done))
                )
            finally:
                # The first job taken stays in this slot; the others use the
                # slots reserved above.
                self._unreserve(reserved - max(0, len(taken) - 1))
            self.tasks.pop(job_id, None)
            if not taken:
                return
            job_id, score = taken[0]
            self.tasks[job_id] = current
            await self._start_all(taken[1:])

    async def _run_attempt_job(
        self, job_id: str, ids: tuple[uuid.UUID, str, int], current: asyncio.Task[Any]
    ) -> bool:
        """Run the attempt; False if it was stopped by a shutdown (run it again)."""
        run_id, step_key, attempt = ids
        function = self.functions[TASK_FUNCTION]
        self.job_tasks[job_id] = current
        try:
            await function.coroutine(self.ctx, str(run_id), step_key, attempt)
        except asyncio.CancelledError:
            if job_id not in self.aborting_tasks:
                self.jobs_retried += 1
                return False
            # arq's abort (a cancelled run): the attempt recorded it, and the
            # slot goes on with other jobs.
            self.aborting_tasks.discard(job_id)
            current.uncancel()
            self.jobs_failed += 1
        except Exception:
            # The attempt records its task's errors itself; this is the engine
            # failing around it (the database gone, say). The sweep finds the
            # step still queued or running and gives it to arq again.
            logger.exception(
                "attempt %d of step %s could not be run",
                attempt,
                step_key,
                extra={"event": "attempt.crashed"},
            )
            self.jobs_failed += 1
        else:
            self.jobs_complete += 1
        finally:
            del self.job_tasks[job_id]

        return True

    async def _finish(
        self, job_id: str, *, done: bool, want: int
    ) -> list[tuple[str, int]]:
        """End a job in Redis and take up to ``want`` due jobs in the same call."""
        keys = [
            self.queue_name,
            in_progress_key_prefix,
            job_key_prefix,
            retry_key_prefix,
            abort_jobs_ss,
        ]
        argv = [job_id, "1" if done else "0", *self._take_args(want)]

        return _pairs(await _FINISH_LUA(self.pool, keys, *argv))

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


def _pairs(flat: Sequence[Any]) -> list[tuple[str, int]]:
    """``take_due``'s ids and scores, in turn, as (job id, score) pairs."""
    return [(_text(flat[i]), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_settings(redis_url: str) -> RedisSettings:
    """arq connection settings from a ``redis://`` or ``unix://`` URL."""
    settings = RedisSettings.from_dsn(redis_url)
    settings.conn_retries = 30
    settings.conn_retry_delay = 1

    return settings
