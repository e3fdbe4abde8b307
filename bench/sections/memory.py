"""Section ``memory``: how the worker's (and the work-horse's) RSS grows over many jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import log
from bench.config import Config
from bench.queueing import Services, check_drained, enqueue
from bench.runs import Run, run_workers


def section_memory(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """RSS of the worker (and of the work-horse) at the first job, at jobs/10 and the last.

    Besides the measured growth from jobs/10 to the last job, the slope (bytes per job)
    is extrapolated to the span the goal names: from job 5,000 to job 50,000.
    """
    result: dict[str, Any] = {}
    for system in config.memory_systems:
        for worker_class, jobs in (
            ("simple", config.memory_simple_jobs),
            ("fork", config.memory_fork_jobs),
        ):
            log(f"memory: {system} {worker_class}, {jobs} jobs")
            points = sorted({1, max(jobs // 10, 1), jobs})
            services.reset()
            samples = {n: str(workdir / f"rss-{system}-{worker_class}-{n}.json") for n in points}
            enqueue(services, system, jobs, samples=samples)
            timing = run_workers(system, Run(worker_class), workdir, config)
            check_drained(services, system, jobs, failing=False)
            read = {n: json.loads(Path(path).read_text()) for n, path in samples.items()}
            entry: dict[str, Any] = {
                "jobs": jobs,
                "points": points,
                "jobs_per_second": round(jobs / timing["elapsed"], 1),
            }
            roles = {"worker": "parent_rss_kib" if worker_class == "fork" else "rss_kib"}
            if worker_class == "fork":
                roles["horse"] = "rss_kib"
            first, last = points[-2], points[-1]
            for role, key in roles.items():
                rss = {n: read[n][key] for n in points}
                slope = (rss[last] - rss[first]) * 1024 / (last - first)  # bytes per job
                entry[role] = {
                    "rss_kib": {str(n): rss[n] for n in points},
                    "growth_pct": round(100 * (rss[last] / rss[first] - 1), 2),
                    "bytes_per_job": round(slope, 1),
                    "extrapolated_5k_to_50k_pct": round(
                        100 * slope * 45_000 / (rss[first] * 1024 + slope * (5000 - first)), 2
                    ),
                }
            log(f"  {entry}")
            result[f"{system}-{worker_class}"] = entry
    return result
