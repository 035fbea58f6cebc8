"""The machine and servers a benchmark ran on, printed above its table."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from bench.scratch import admin_dsn


@dataclass(frozen=True)
class Machine:
    """What the figures depend on besides the code."""

    cpu_model: str
    logical_cores: int
    python: str
    postgresql: str
    redis: str
    arq: str
    load_average: tuple[float, float, float]

    def lines(self) -> list[str]:
        one, five, fifteen = self.load_average
        return [
            f"CPU: {self.cpu_model}, {self.logical_cores} logical cores",
            f"Python {self.python}, PostgreSQL {self.postgresql}, "
            f"Redis {self.redis}, arq {self.arq}",
            f"load average at start: {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)",
        ]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what the platform reports)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()

    return platform.processor() or platform.machine()


async def describe(database_url: str, redis_url: str) -> Machine:
    """Read the CPU, the load and the servers' versions."""
    conn = await asyncpg.connect(admin_dsn(database_url))
    try:
        pg_version = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
    redis = Redis.from_url(redis_url)
    try:
        info = await redis.info("server")
    finally:
        await redis.aclose()

    return Machine(
        cpu_model=cpu_model(),
        logical_cores=os.cpu_count() or 0,
        python=platform.python_version(),
        postgresql=pg_version,
        redis=str(info.get("redis_version", "?")),
        arq=version("arq"),
        load_average=os.getloadavg(),
    )
