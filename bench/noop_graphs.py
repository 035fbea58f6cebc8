"""The tasks and graphs the engine's benchmarks run: steps that do nothing.

``bench_noop`` returns at once; ``bench_stamp`` returns the wall-clock times at
which its code started and ended, so hand-off latency can be read from the
outputs of a chain (successor's start minus predecessor's end) without any
extra I/O on the path being measured.
"""

from __future__ import annotations

import time
from typing import Any

from orchestrator.context import StepContext
from orchestrator.graph import Graph, Step, task

NOOP = "bench_noop"
STAMP = "bench_stamp"


@task(NOOP)
async def bench_noop(ctx: StepContext) -> None:
    """Do nothing."""


@task(STAMP)
async def bench_stamp(ctx: StepContext) -> dict[str, Any]:
    """Do nothing but say when (``time.time()``) the step's code began and ended."""
    started = time.time()

    return {"t0": started, "t1": time.time()}


def step_key(index: int) -> str:
    return f"s{index:05d}"


def wide(width: int, name: str = "bench_wide") -> Graph:
    """``width`` independent no-op steps (all ready when the run starts)."""
    steps = [Step(step_key(i), NOOP) for i in range(width)]

    return Graph(name, steps, max_active_runs=1_000)


def chain(length: int, name: str = "bench_chain") -> Graph:
    """``length`` stamping steps, each after the previous one."""
    steps = [Step(step_key(i), STAMP) for i in range(length)]
    edges = [(step_key(i), step_key(i + 1)) for i in range(length - 1)]

    return Graph(name, steps, edges, max_active_runs=1_000)


def fan_out(leaves: int, name: str = "bench_fan_out") -> Graph:
    """A root step, then ``leaves`` no-op steps that all wait for it."""
    steps = [Step("root", NOOP), *(Step(step_key(i), NOOP) for i in range(leaves))]
    edges = [("root", step_key(i)) for i in range(leaves)]

    return Graph(name, steps, edges, max_active_runs=1_000)


def one_step(name: str = "bench_one") -> Graph:
    """A single stamping step."""
    return Graph(name, [Step("only", STAMP)], max_active_runs=1_000)
