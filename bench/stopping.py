"""Running a benchmark's main coroutine so that SIGTERM stops it cleanly.

A benchmark holds scratch databases, Redis keys and worker processes; Python's
default for SIGTERM ends the process without running any cleanup, so each of
those would be left behind. Here SIGTERM cancels the main task, as Ctrl-C does,
and the benchmark's own ``finally`` blocks stop its workers and drop its
databases before the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)

SIGTERM_EXIT = 128 + signal.SIGTERM


def run_until_stopped(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` to its end; its exit code, or 143 if SIGTERM stopped it."""

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await main

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        logger.warning(
            "stopped by SIGTERM after cleaning up", extra={"event": "bench.stopped"}
        )
        return SIGTERM_EXIT
