"""Section ``whatif``: jobman with a setting or a prototype change against jobman as it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import log
from bench.config import Config
from bench.figures import alternate
from bench.queueing import Services
from bench.runs import Run, throughput


def section_whatif(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """jobman with a setting or a prototype change against jobman as it is, alternating.

    The variant's gain (its median over jobman's) sizes a suggestion; times the
    jobman/RQ ratio of the workers section it estimates where jobman would stand.

    PostgreSQL: ``*-async-commit``, jobman with ``JOBMAN["ASYNC_COMMIT"]``. SQLite:
    ``fork-keep-connection`` (see ``bench.workerproc.prepare_variant``), what keeping a
    connection to the file open across forks would save.
    """
    from django.db import connection

    cases: dict[str, tuple[Run, int]] = {}
    if connection.vendor == "sqlite":
        cases["fork-keep-connection"] = (Run("fork", variant="keep-connection"), config.fork_jobs)
    if connection.vendor == "postgresql":
        async_commit = {"JOBMAN_BENCH_JOBMAN": json.dumps({"ASYNC_COMMIT": True})}
        cases["simple-async-commit"] = (Run("simple", env=async_commit), config.simple_jobs)
        cases["fork-async-commit"] = (Run("fork", env=async_commit), config.fork_jobs)
        cases["pool-async-commit"] = (
            Run("fork", processes=2, env=async_commit),
            config.pool_jobs,
        )
    baselines = {"simple": Run("simple"), "fork": Run("fork"), "pool": Run("fork", processes=2)}
    result: dict[str, Any] = {}
    for name, (run, jobs) in cases.items():
        log(f"what-if: {name} (against jobman as it is)")
        base = baselines[name.split("-")[0]]
        result[name] = {
            **alternate(
                config.rounds,
                lambda label, run=run, jobs=jobs, base=base: throughput(
                    services,
                    "jobman",
                    run if label == "variant" else base,
                    jobs,
                    workdir,
                    config,
                ),
                labels=("jobman", "variant"),
            ),
            "jobs": jobs,
        }
    return result
