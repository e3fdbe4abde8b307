"""How much of everything a suite run does: ``Config``, written as JSON by ``bench.cli``
and read back by ``bench.suite``."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any


def count(full: Any, quick: Any) -> Any:
    """A field whose default is the full run's value; ``quick`` is ``Config.quick()``'s.

    The two stand on one line, so that a count is read with its smoke-test size; a list
    field does the same with ``field(default_factory=..., metadata={"quick": ...})``.
    """
    return field(default=full, metadata={"quick": quick})


@dataclass
class Config:
    """How much of everything to do: the full run's defaults, and ``quick()`` for CI."""

    rounds: int = count(3, quick=1)
    sections: list[str] = field(default_factory=list)
    # Worker throughput: jobs drained per run.
    fork_jobs: int = count(250, quick=15)
    simple_jobs: int = count(500, quick=60)
    pool_jobs: int = count(250, quick=20)
    scaling_jobs: int = count(1200, quick=40)
    scaling_processes: list[int] = field(default_factory=lambda: [1, 2, 4])
    # Always-failing jobs: which worker classes, and jobs drained per run.
    failing_classes: list[str] = field(
        default_factory=lambda: ["fork", "simple"], metadata={"quick": ["simple"]}
    )
    failing_fork_jobs: int = count(150, quick=15)
    failing_simple_jobs: int = count(250, quick=40)
    # Dispatch: jobs one at a time, and bulk calls of bulk_size jobs.
    dispatch_single: int = count(1000, quick=100)
    dispatch_bulk_size: int = count(1000, quick=200)
    dispatch_bulk_calls: int = count(5, quick=1)
    # The million-row table.
    fill_rows: int = count(1_000_000, quick=20_000)
    million_simple_jobs: int = count(300, quick=40)
    million_fork_jobs: int = count(150, quick=10)
    million_classes: list[str] = field(
        default_factory=lambda: ["fork", "simple"], metadata={"quick": ["simple"]}
    )
    # Memory: which systems; RSS sampled at the first job, at jobs/10 and at the last job.
    memory_systems: list[str] = field(default_factory=lambda: ["jobman"])
    memory_simple_jobs: int = count(50_000, quick=150)
    memory_fork_jobs: int = count(5_000, quick=20)
    # Per-job counts (runs of n and 2n jobs); which cases ("all" or a list).
    count_jobs: int = count(20, quick=3)
    count_cases: list[str] = field(
        default_factory=lambda: ["all"], metadata={"quick": ["failing-fork"]}
    )
    reconnect_iterations: int = count(200, quick=20)
    # Peers: jobs drained per run by in-process workers and by forking ones; which systems
    # ("all" or names from bench.peers.catalogue).
    peers_simple_jobs: int = count(2000, quick=30)
    peers_fork_jobs: int = count(600, quick=10)
    peers: list[str] = field(default_factory=lambda: ["all"])
    # py-spy profiles (section "profile", not in the default run).
    profile_dir: str = ""
    profile_simple_jobs: int = count(800, quick=100)
    profile_fork_jobs: int = count(200, quick=20)
    worker_timeout: float = count(900.0, quick=120.0)

    @classmethod
    def quick(cls) -> Config:
        """Small counts, one round: every code path runs, no figure means much."""
        small = {f.name: copy.copy(f.metadata["quick"]) for f in fields(cls) if f.metadata}
        return cls(**small)
