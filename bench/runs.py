"""Timing burst workers: enqueue N jobs, start the workers, let them drain the queue.

``throughput`` is one such run, checked and turned into jobs per second and CPU per job;
``run_workers`` is the run itself, for sections that read more than the time. The minor
page faults of every throughput run are kept for the suite's "faults" figures.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import log
from bench.config import Config
from bench.figures import Sample, median
from bench.processes import stop_process
from bench.profiling import start_pyspy
from bench.queueing import Services, check_drained, enqueue
from bench.workerproc import BenchWorker


@dataclass
class Run:
    """How burst workers are started: class, how many, and what extra they do."""

    worker_class: str  # "fork" or "simple"
    processes: int = 1
    env: dict[str, str] = field(default_factory=dict)
    variant: str = ""
    probe: str | None = None
    pyspy_out: str | None = None

    def arguments(self, system: str) -> list[str]:
        """The command-line arguments of ``bench.workerproc`` for this run."""
        arguments = [system, self.worker_class]
        if self.variant:
            arguments += ["--variant", self.variant]
        if self.probe:
            arguments += ["--probe", self.probe]
        return arguments


def run_workers(system: str, run: Run, workdir: Path, config: Config) -> dict[str, Any]:
    """Start ``run.processes`` burst workers, let them drain the queue; return their timings."""
    workers = [
        BenchWorker(run.arguments(system), run.env, workdir / "workers.log")
        for _ in range(run.processes)
    ]
    spies: list[subprocess.Popen[bytes]] = []
    try:
        for worker in workers:
            worker.expect("READY", timeout=120)
        if run.pyspy_out:
            spies = [
                start_pyspy(worker.pid, f"{run.pyspy_out}.{n}.txt")
                for n, worker in enumerate(workers)
            ]
            time.sleep(1.0)
        for worker in workers:
            worker.go()
        results = [
            json.loads(worker.expect("RESULT", timeout=config.worker_timeout)) for worker in workers
        ]
        for worker in workers:
            worker.process.wait(30)
        for spy in spies:
            spy.wait(120)
    finally:
        for worker in workers:
            worker.stop()
        for spy in spies:
            stop_process(spy)
    return {
        "elapsed": max(r["end"] for r in results) - min(r["start"] for r in results),
        "pids": [r["pid"] for r in results],
        "rss_kib": [r["rss_kib"] for r in results],
        "cpu": sum(r["cpu"] for r in results),
        "faults": [sum(r["minor_faults"][i] for r in results) for i in (0, 1)],
        "start": min(r["start"] for r in results),
        "end": max(r["end"] for r in results),
    }


def workers_log_tail(workdir: Path, lines: int = 30) -> str:
    try:
        return "\n".join(
            (workdir / "workers.log").read_text(errors="replace").splitlines()[-lines:]
        )
    except OSError:
        return "(no log)"


def throughput(
    services: Services,
    system: str,
    run: Run,
    jobs: int,
    workdir: Path,
    config: Config,
    failing: bool = False,
) -> Sample:
    """Enqueue ``jobs`` jobs, time the workers draining them; jobs per second.

    A run whose jobs did not all end as expected is repeated once (the tail of the
    workers' log is shown); a second such run stops the bench.
    """
    for attempt in (1, 2):
        services.reset()
        enqueue(services, system, jobs, failing=failing)
        timing = run_workers(system, run, workdir, config)
        try:
            check_drained(services, system, jobs, failing)
            break
        except RuntimeError as error:
            tail = workers_log_tail(workdir)
            if attempt == 2:
                raise RuntimeError(f"{error}\nworkers' log:\n{tail}") from None
            log(f"  {error}; running it again. Workers' log:\n{tail}")
    rate, cpu = jobs / timing["elapsed"], timing["cpu"] * 1000 / jobs
    FAULTS.setdefault((system, run.worker_class, run.variant, failing), []).append(
        (timing["faults"][0] / jobs, timing["faults"][1] / jobs)
    )
    label = f"{run.worker_class}x{run.processes}{' ' + run.variant if run.variant else ''}"
    log(
        f"  {system:6} {label} {'failing ' if failing else ''}{jobs} jobs: "
        f"{timing['elapsed']:.2f} s, {rate:.0f} jobs/s, CPU {cpu:.2f} ms/job"
    )
    return rate, cpu


# Minor page faults per job of every throughput run: (worker, work-horses), by
# (system, worker class, variant, failing). Reported as medians in "faults".
FAULTS: dict[tuple[str, str, str, bool], list[tuple[float, float]]] = {}


def fault_summary() -> dict[str, Any]:
    result = {}
    for (system, worker_class, variant, failing), values in sorted(FAULTS.items()):
        key = "-".join(
            p for p in (system, worker_class, variant, "failing" if failing else "") if p
        )
        result[key] = {
            "worker": round(median(v[0] for v in values), 1),
            "horses": round(median(v[1] for v in values), 1),
        }
    return result
