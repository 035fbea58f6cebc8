"""What every benchmark is given: the servers, the size class and the repeats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchConfig:
    """The servers to use and how big and how often to measure.

    Attributes:
        quick: small sizes (to check the benchmarks work), not figures to quote.
        repeat: measured runs of each figure that is repeated (the heavy ones,
            such as a 10,000-step run or the jobs at scale, run once).
        corpus_dir: the public CWE and ASVS catalogues.
    """

    database_url: str
    redis_url: str
    quick: bool
    repeat: int
    corpus_dir: Path

    def size(self, full: int, quick: int) -> int:
        """``full``, or ``quick`` in quick mode."""
        return quick if self.quick else full
