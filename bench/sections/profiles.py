"""Section ``profile``: where the time goes, in py-spy samples of each worker kind and in
cProfile dumps of jobman's dispatch. Not in the default run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import profiling
from bench.common import SYSTEMS, log
from bench.config import Config
from bench.queueing import Services, check_drained, enqueue
from bench.runs import Run, run_workers


def section_profile(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """py-spy samples of each worker kind draining no-op jobs."""
    if profiling.pyspy_binary() is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    out = Path(config.profile_dir or workdir / "profiles")
    out.mkdir(parents=True, exist_ok=True)
    engine = os.environ.get("JOBMAN_BENCH_DB", "db")
    result: dict[str, Any] = {"dir": str(out)}
    result["dispatch"] = profile_dispatch(services, config, out / f"{engine}-dispatch")
    for worker_class, jobs in (
        ("simple", config.profile_simple_jobs),
        ("fork", config.profile_fork_jobs),
    ):
        for system in SYSTEMS:
            services.reset()
            enqueue(services, system, jobs)
            stem = str(out / f"{engine}-{system}-{worker_class}")
            log(f"profile: {system} {worker_class}")
            timing = run_workers(system, Run(worker_class, pyspy_out=stem), workdir, config)
            check_drained(services, system, jobs, failing=False)
            result[f"{system}-{worker_class}"] = profiling.analyse(
                f"{stem}.0.txt", jobs, timing["elapsed"]
            )
    return result


def profile_dispatch(services: Services, config: Config, stem: Path) -> dict[str, Any]:
    """cProfile of jobman's dispatch (one at a time, and dispatch_many) in this process.

    The calls are written out here, not through ``bench.queueing``, so that no frame of
    the bench's own stands between the profile's top and jobman's.
    """
    import cProfile

    from bench.benchapp.jobs import NoopJob

    result = {}
    cases: dict[str, tuple[Callable[[], object], int]] = {
        "single": (
            lambda: [NoopJob.dispatch({}) for _ in range(config.dispatch_single)],
            config.dispatch_single,
        ),
        "bulk": (
            lambda: [
                NoopJob.dispatch_many([{} for _ in range(config.dispatch_bulk_size)])
                for _ in range(config.dispatch_bulk_calls)
            ],
            config.dispatch_bulk_size * config.dispatch_bulk_calls,
        ),
    }
    for name, (body, jobs) in cases.items():
        services.reset()
        profiler = cProfile.Profile()
        profiler.runcall(body)
        path = f"{stem}-{name}.prof"
        profiler.dump_stats(path)
        result[name] = profiling.top_functions(path, jobs)
    return result
