"""Profiles: py-spy recording a worker (``start_pyspy``), and reading its raw samples
(``--format raw --idle --subprocesses``): where a worker's wall-clock time goes, per job,
in the worker process and in its work-horses; and the top of a cProfile dump.

A raw line is ``frame;frame;...;leaf COUNT``; with ``--subprocesses`` each stack starts
with ``process PID:"command"`` frames, one per level of the process tree, so a horse's
samples carry two of them. Only main-thread stacks (those through ``_run_module_as_main``)
are counted: the pubsub thread of an RQ worker sleeps on its socket the whole time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 500  # samples per second, as start_pyspy records them

# Inclusive time of these functions is reported per job: label -> pattern of a frame.
KEY_FRAMES: dict[str, str] = {
    "dequeue (BLMOVE/LMOVE + fetch job)": r"^BaseWorker\.dequeue_job_and_maintain_ttl ",
    "fork_work_horse (worker: os.fork; horse: its whole life)": r"^Worker\.fork_work_horse ",
    "waiting for the work-horse": r"^Worker\.(monitor_work_horse|wait_for_horse) ",
    "RQ prepare_job_execution": r"\.prepare_job_execution ",
    "RQ handle_job_success/failure": r"\.handle_job_(success|failure) ",
    "heartbeats (worker's and job's)": r"\.heartbeat \(",
    "thread start (jobman's per-job keep-alive)": r"^Thread\.start ",
    "jobman runner.run (whole attempt)": r"^run \(jobman/runner\.py",
    "jobman claim (UPDATE + SELECT)": r"^JobmanQuerySet\.claim ",
    "jobman record_success": r"^Jobman\.record_success ",
    "jobman record_failure/retry": r"^(Jobman\.record_(failure|retry)|record_failed_attempt) ",
    "DB connect": r"^BaseDatabaseWrapper\.connect ",
    "DB close / close_old_connections": r"^(close_old_connections|BaseDatabaseWrapper\.close|"
    r"ConnectionHandler\.close_all) ",
    "SQL execute (driver + server)": r"^CursorWrapper\._execute ",
    "job.perform (the job function)": r"^Job\.perform ",
    "Django signals": r"^Signal\.send ",
    "logging": r"^(Logger\.|Handler\.)",
}
_KEY_RES = {label: re.compile(pattern) for label, pattern in KEY_FRAMES.items()}
_PROCESS = re.compile(r"^process (\d+):")


def pyspy_binary() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start_pyspy(pid: int, output: str) -> subprocess.Popen[bytes]:
    """Sample process ``pid`` and its children (the work-horses) until it exits."""
    binary = pyspy_binary()
    if binary is None:
        raise RuntimeError("py-spy is not installed")
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--idle",
            "--nonblocking",
            "--subprocesses",
            "--output",
            output,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py)``, keeping the package."""
    match = re.match(r"^(.*?) \((.*):\d+\)$", frame)
    if not match:
        return frame
    name, path = match.groups()
    path = path.split("site-packages/")[-1]
    parts = path.split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def _parse(path: str) -> list[tuple[list[str], int]]:
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as raw:
        for line in raw:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            try:
                stacks.append((stack.split(";"), int(count)))
            except ValueError:
                continue
    return stacks


def analyse(path: str, jobs: int, elapsed: float) -> dict[str, Any]:
    """Per-job milliseconds of the key frames, and the top leaf frames, per process role."""
    try:
        stacks = _parse(path)
    except FileNotFoundError:
        return {"error": f"no py-spy output at {path}"}
    roles: dict[str, dict[str, Any]] = {}
    for frames, count in stacks:
        processes = [f for f in frames if _PROCESS.match(f)]
        code = [f for f in frames if not _PROCESS.match(f)]
        if not any(f.startswith("_run_module_as_main") for f in code):
            continue  # another thread (RQ's pubsub listener)
        if code and code[-1].startswith("main (bench/workerproc.py"):
            continue  # before the start signal, or after the burst
        role = "worker" if len(processes) <= 1 else "horse"
        data = roles.setdefault(role, {"samples": 0, "keys": Counter(), "leaves": Counter()})
        data["samples"] += count
        seen = set()
        for frame in code:
            for label, pattern in _KEY_RES.items():
                if label not in seen and pattern.search(frame):
                    seen.add(label)
                    data["keys"][label] += count
        if code:
            data["leaves"][_short(code[-1])] += count

    def ms_per_job(samples: int) -> float:
        return round(samples / RATE * 1000 / jobs, 3)

    result: dict[str, Any] = {
        "jobs": jobs,
        "elapsed_s": round(elapsed, 2),
        "ms_per_job_wall": round(elapsed * 1000 / jobs, 3),
        "raw": path,
    }
    for role, data in roles.items():
        result[role] = {
            "ms_per_job_sampled": ms_per_job(data["samples"]),
            "key_ms_per_job": {k: ms_per_job(v) for k, v in data["keys"].most_common()},
            "top_leaves_ms_per_job": {k: ms_per_job(v) for k, v in data["leaves"].most_common(12)},
        }
    parts = [f"{result['ms_per_job_wall']:.2f} ms/job wall (under py-spy)"]
    for role in ("worker", "horse"):
        if role in result:
            keys = result[role]["key_ms_per_job"]
            top = ", ".join(f"{k} {v:.2f}" for k, v in list(keys.items())[:6])
            parts.append(f"{role}: {top}")
    result["summary"] = "; ".join(parts)
    return result


def top_functions(path: str, jobs: int, limit: int = 20) -> dict[str, Any]:
    """The functions of a cProfile dump with the most cumulative time, in ms per job.

    cProfile slows Python code down several times, so these say where the time goes
    relative to each other, not how long a job takes.
    """
    import pstats

    stats = pstats.Stats(path)
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("site-packages/")[-1]
        if "/jobman/" in where:
            where = "jobman/" + where.split("/jobman/")[-1]
        rows.append((cumulative, own, calls, f"{name} ({where}:{line})"))
    rows.sort(reverse=True)
    total = max(rows[0][0], 1e-9) if rows else 1e-9
    return {
        "raw": path,
        "total_ms_per_job": round(total * 1000 / jobs, 3),
        "cumulative_ms_per_job": {
            label: round(cumulative * 1000 / jobs, 3) for cumulative, _, _, label in rows[:limit]
        },
        "own_ms_per_job": {
            label: round(own * 1000 / jobs, 3)
            for _, own, _, label in sorted(rows, key=lambda r: -r[1])[:limit]
        },
    }
