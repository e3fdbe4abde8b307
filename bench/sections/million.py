"""Section ``million``: jobman's throughput with a million finished rows in its table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import log
from bench.config import Config
from bench.figures import median, ratio, summary
from bench.queueing import Services, dispatch_one_by_one
from bench.runs import Run, throughput


def section_million(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """jobman's worker throughput with ``fill_rows`` finished rows in jobmans vs none."""
    from bench.fill import fill

    jobs_of = {"simple": config.million_simple_jobs, "fork": config.million_fork_jobs}
    classes = {wc: jobs_of[wc] for wc in config.million_classes}

    def rounds() -> dict[str, list[float]]:
        rates: dict[str, list[float]] = {wc: [] for wc in classes}
        for _ in range(config.rounds):
            for wc, jobs in classes.items():
                rate, _ = throughput(services, "jobman", Run(wc), jobs, workdir, config)
                rates[wc].append(rate)
        return rates

    def dispatch_rounds() -> list[float]:
        rates = []
        for _ in range(config.rounds):
            services.reset()
            started = time.perf_counter()
            dispatch_one_by_one(services, "jobman", config.dispatch_single)
            rates.append(config.dispatch_single / (time.perf_counter() - started))
        return rates

    log("million: empty table")
    services.keep_below = 0
    empty, empty_dispatch = rounds(), dispatch_rounds()
    services.reset()
    log(f"million: filling {config.fill_rows:,} rows")
    filled_info = fill(config.fill_rows)
    log(f"million: filled in {filled_info['total_seconds']} s")
    services.keep_below = filled_info["max_id"]
    try:
        filled, filled_dispatch = rounds(), dispatch_rounds()
        log(f"million: jobman_prune of the {config.fill_rows:,} rows")
        pruned = prune_all()
    finally:
        services.keep_below = 0
        services.reset()

    result: dict[str, Any] = {"fill": filled_info, "jobs": classes, "prune": pruned}
    for wc in classes:
        result[wc] = {
            "empty": summary(empty[wc]),
            "filled": summary(filled[wc]),
            "ratio": ratio(median(filled[wc]), median(empty[wc])),
        }
    result["dispatch_single"] = {
        "empty": summary(empty_dispatch),
        "filled": summary(filled_dispatch),
        "ratio": ratio(median(filled_dispatch), median(empty_dispatch)),
    }
    return result


def prune_all() -> dict[str, Any]:
    """Time ``jobman_prune`` (operations.prune, batches of 1,000) deleting every finished row."""
    from datetime import timedelta

    from jobman import operations

    started = time.perf_counter()
    pruned = operations.prune(older_than=timedelta(0))
    seconds = time.perf_counter() - started
    return {
        "jobs": pruned.jobs,
        "failed_jobs": pruned.failed_jobs,
        "seconds": round(seconds, 1),
        "rows_per_second": round(pruned.jobs / seconds) if seconds else None,
    }
