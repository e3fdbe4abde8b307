"""Section ``counts``: SQL statements, connects and Redis round trips of one job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.common import SYSTEMS, log
from bench.config import Config
from bench.queueing import (
    Services,
    check_drained,
    dispatch_in_bulk,
    dispatch_one_by_one,
    enqueue,
)
from bench.runs import Run, run_workers

COUNT_CASES = [f"{kind}-{wc}" for kind in ("noop", "failing") for wc in ("fork", "simple")]


def section_counts(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """Per attempt and per dispatch: SQL statements, connects, Redis round trips.

    Each case runs twice, with n and 2n jobs; the difference divided by n is the cost of
    one job, free of the worker's start-up and teardown.
    """
    from bench import probes

    n = config.count_jobs
    cases = COUNT_CASES if "all" in config.count_cases else config.count_cases
    result: dict[str, Any] = {}
    for case in cases:
        kind, worker_class = case.split("-")
        failing = kind == "failing"
        for system in SYSTEMS:
            tallies = []
            for jobs in (n, 2 * n):
                services.reset()
                enqueue(services, system, jobs, failing=failing)
                path = str(workdir / f"probe-{case}-{system}-{jobs}.tsv")
                timing = run_workers(system, Run(worker_class, probe=path), workdir, config)
                check_drained(services, system, jobs, failing)
                tallies.append(probes.tally(path, set(timing["pids"])))
            result[f"{case}-{system}"] = probes.difference(tallies[1], tallies[0], n)
            log(
                f"counts {case}-{system}: {result[f'{case}-{system}']['worker']['kinds']} / horse "
                f"{result[f'{case}-{system}']['horse']['kinds']}"
            )

    # Dispatch, in this process.
    probes.install_patches()
    for system in SYSTEMS:
        for mode, dispatch in (("single", dispatch_one_by_one), ("bulk", dispatch_in_bulk)):
            tallies = []
            for jobs in (n, 2 * n):
                services.reset()
                path = str(workdir / f"probe-dispatch-{system}-{mode}-{jobs}.tsv")
                probes.start(path)
                dispatch(services, system, jobs)
                probes.stop()
                tallies.append(probes.tally(path, {os.getpid()}))
            case = f"dispatch-{mode}-{system}"
            result[case] = probes.difference(tallies[1], tallies[0], n)["worker"]
            log(f"counts {case}: {result[case]['kinds']}")
    return result
