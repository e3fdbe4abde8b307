"""Section ``dispatch``: jobs put in the queue per second, bare RQ against jobman."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import log
from bench.config import Config
from bench.figures import Sample, alternate
from bench.queueing import Services, dispatch_in_bulk, dispatch_one_by_one


def section_dispatch(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """Jobs per second put in the queue: one at a time, and in bulk."""

    def single(system: str) -> Sample:
        services.reset()
        n = config.dispatch_single
        started, cpu = time.perf_counter(), time.process_time()
        dispatch_one_by_one(services, system, n)
        rate, cpu = n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n
        log(f"  single {system:6}: {rate:.0f} jobs/s, CPU {cpu:.3f} ms/job")
        return rate, cpu

    def bulk(system: str) -> Sample:
        services.reset()
        size, calls = config.dispatch_bulk_size, config.dispatch_bulk_calls
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            dispatch_in_bulk(services, system, size)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        rate, cpu = size * calls / elapsed, cpu * 1000 / (size * calls)
        log(f"  bulk {system:6}: {rate:.0f} jobs/s, CPU {cpu:.3f} ms/job")
        return rate, cpu

    log("dispatch")
    return {
        "single": {**alternate(config.rounds, single), "jobs": config.dispatch_single},
        "bulk": {
            **alternate(config.rounds, bulk),
            "jobs": config.dispatch_bulk_size * config.dispatch_bulk_calls,
            "jobs_per_call": config.dispatch_bulk_size,
        },
    }
