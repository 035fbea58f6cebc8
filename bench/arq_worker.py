"""A plain arq worker for the comparisons: ``python -m bench.arq_worker``.

arq's own ``Worker`` with its defaults (``max_jobs`` 10, pickle, the poll loop),
except: the queue (``BENCH_QUEUE``), the poll delay (``BENCH_POLL_S``, arq's
default 0.5 s), ``keep_result=0`` (the engine stores no arq results either, and
this leaves nothing behind in a shared Redis) and a health-check key of its
own so the benchmark can tell when this process is polling. With
``BENCH_UVLOOP=1`` it runs on uvloop, as the engine's workers do (arq's own
default is the standard event loop). Reads ``REDIS_URL``. Stops on SIGTERM.

Its functions: ``noop``; ``stamp`` (pushes its start time to a list, for
enqueue-to-start latency); ``chain`` (each job enqueues the next, remembering
when its code handed off and when the next one started; the last pushes them
all); ``fan_out`` (enqueues that many ``noop`` jobs, one by one, as arq offers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker, func

_STARTS: dict[str, dict[int, float]] = {}
_HANDED: dict[str, dict[int, float]] = {}


def health_check_key(queue_name: str, pid: int) -> str:
    """The health-check key of the worker process ``pid``."""
    return f"{queue_name}:health-check:{pid}"


async def noop(ctx: dict[str, Any]) -> None:
    """Do nothing."""


async def stamp(ctx: dict[str, Any], key: str) -> None:
    """Push the wall-clock time this job's code started to the list ``key``."""
    started = time.time()
    await ctx["redis"].rpush(key, repr(started))


async def chain(ctx: dict[str, Any], index: int, length: int, key: str) -> None:
    """Job ``index`` of a chain of ``length``: enqueue the next, or report."""
    started = time.time()
    _STARTS.setdefault(key, {})[index] = started
    if index + 1 < length:
        _HANDED.setdefault(key, {})[index] = time.time()
        await ctx["redis"].enqueue_job("chain", index + 1, length, key)
        return
    stamps = {"starts": _STARTS.pop(key), "handed": _HANDED.pop(key, {})}
    await ctx["redis"].rpush(key, json.dumps(stamps))


async def fan_out(ctx: dict[str, Any], leaves: int) -> None:
    """Enqueue ``leaves`` no-op jobs."""
    for _ in range(leaves):
        await ctx["redis"].enqueue_job("noop")


def main() -> None:
    """Run one plain arq worker until SIGTERM."""
    logging.basicConfig(level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"))
    if os.environ.get("BENCH_UVLOOP") == "1":
        import uvloop

        asyncio.set_event_loop(uvloop.new_event_loop())
    queue = os.environ["BENCH_QUEUE"]
    worker = Worker(
        functions=[func(f) for f in (noop, stamp, chain, fan_out)],
        queue_name=queue,
        redis_settings=RedisSettings.from_dsn(os.environ["REDIS_URL"]),
        poll_delay=float(os.environ.get("BENCH_POLL_S", "0.5")),
        keep_result=0,
        health_check_key=health_check_key(queue, os.getpid()),
    )
    worker.run()


if __name__ == "__main__":
    main()
