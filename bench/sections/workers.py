"""Sections ``workers``, ``scaling`` and ``failing``: jobs per second drained by burst
workers, bare RQ against jobman, of no-op jobs (by one worker, by a pool, by 1, 2 and 4
SimpleWorkers) and of always-failing ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import log
from bench.config import Config
from bench.figures import alternate
from bench.queueing import Services
from bench.runs import Run, throughput


def section_workers(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """No-op jobs per second drained by a forking Worker, a SimpleWorker, a pool of 2."""
    result = {}
    for name, run, jobs in (
        ("fork", Run("fork"), config.fork_jobs),
        ("simple", Run("simple"), config.simple_jobs),
        ("pool2", Run("fork", processes=2), config.pool_jobs),
    ):
        log(f"workers: {name}")
        result[name] = {
            **alternate(
                config.rounds,
                lambda system, run=run, jobs=jobs: throughput(
                    services, system, run, jobs, workdir, config
                ),
            ),
            "jobs": jobs,
        }
    return result


def section_scaling(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """The same no-op jobs drained by 1, 2 and 4 SimpleWorker processes: how each system's
    rate grows with workers on one machine (its two cores shared with the database)."""
    result = {}
    jobs = config.scaling_jobs
    for processes in config.scaling_processes:
        run = Run("simple", processes=processes)
        log(f"scaling: {processes} SimpleWorker(s)")
        result[str(processes)] = {
            **alternate(
                config.rounds,
                lambda system, run=run: throughput(services, system, run, jobs, workdir, config),
            ),
            "jobs": jobs,
        }
    return result


def section_failing(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """Always-failing jobs (one try) per second."""
    result = {}
    jobs_of = {"fork": config.failing_fork_jobs, "simple": config.failing_simple_jobs}
    for worker_class, jobs in ((wc, jobs_of[wc]) for wc in config.failing_classes):
        log(f"failing: {worker_class}")
        result[worker_class] = {
            **alternate(
                config.rounds,
                lambda system, wc=worker_class, jobs=jobs: throughput(
                    services, system, Run(wc), jobs, workdir, config, failing=True
                ),
            ),
            "jobs": jobs,
        }
    return result
