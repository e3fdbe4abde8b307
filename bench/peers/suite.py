"""Section ``peers`` measured: ``python -m bench.peers.suite CONFIG OUT``, a process set up
with ``bench.peers.settings`` (``bench.sections.peers`` starts it).

One run of a system: Redis and every table emptied; N no-op jobs put in the queue one
call at a time (timed: the dispatch rate); one worker process started and left to drain
them. The process rate is N over that process's wall time, start-up included; the steady
rate is N over the span from the first job's start to the last one's end, as the system
itself stored them. The systems take turns round by round, in reverse order every other
round, so that drift on the machine hits them alike.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import log
from bench.config import Config
from bench.figures import ratio, summary
from bench.peers.base import Peer
from bench.peers.catalogue import BASELINE, SYSTEMS, System
from bench.peers.workers import LOG_NAME
from bench.queueing import Services

RATES = ("process", "steady", "dispatch")


def empty_tables(peers: list[Peer]) -> None:
    """Delete the rows the peers' runs left (jobman's are emptied by ``Services.reset``)."""
    from django.apps import apps
    from django.db import connection

    tables = {apps.get_model(label)._meta.db_table for peer in peers for label in peer.tables}
    with connection.cursor() as cursor:
        for table in sorted(tables):
            quoted = connection.ops.quote_name(table)
            if connection.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {quoted}")
            else:
                cursor.execute(f"DELETE FROM {quoted}")
    connection.close()


def run_once(
    peer: Peer, peers: list[Peer], services: Services, jobs: int, workdir: Path, timeout: float
) -> dict[str, float]:
    from django.db import connections

    empty_tables(peers)
    services.reset()
    started = time.perf_counter()
    peer.dispatch(services, jobs)
    dispatch_seconds = time.perf_counter() - started
    connections.close_all()  # the worker has the database to itself
    seconds = peer.drain(services, jobs, workdir, timeout)
    done = peer.finished(services)
    if done != jobs:
        raise RuntimeError(f"{peer.name}: expected {jobs} finished jobs, found {done}")
    first, last = peer.stored_span(services)
    connections.close_all()
    return {
        "process": jobs / seconds,
        "steady": jobs / (last - first) if last > first else 0.0,
        "dispatch": jobs / dispatch_seconds,
    }


def log_tail(workdir: Path, lines: int = 30) -> str:
    try:
        return "\n".join((workdir / LOG_NAME).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def measure(
    peer: Peer, peers: list[Peer], services: Services, jobs: int, workdir: Path, config: Config
) -> dict[str, float]:
    """One run; a run that fails is repeated once (the tail of the workers' log shown)."""
    for attempt in (1, 2):
        try:
            rates = run_once(peer, peers, services, jobs, workdir, config.worker_timeout)
            break
        except (RuntimeError, TimeoutError) as error:
            tail = log_tail(workdir)
            if attempt == 2:
                raise RuntimeError(f"{error}\nworkers' log:\n{tail}") from None
            log(f"  {error}; running it again. Workers' log:\n{tail}")
    log(
        f"  {peer.name:16} {jobs} jobs: process {rates['process']:.0f}/s, "
        f"steady {rates['steady']:.0f}/s, dispatch {rates['dispatch']:.0f}/s"
    )
    return rates


def wanted(config: Config) -> list[System]:
    if "all" in config.peers:
        return list(SYSTEMS)
    unknown = set(config.peers) - {system.name for system in SYSTEMS}
    if unknown:
        raise SystemExit(f"peers: unknown system(s) {', '.join(sorted(unknown))}")
    return [system for system in SYSTEMS if system.name in config.peers]


def run_peers(config: Config, workdir: Path) -> dict[str, Any]:
    services = Services()
    skipped: dict[str, str] = {}
    runnable: list[System] = []
    for system in wanted(config):
        reason = system.why_skipped()
        if reason:
            skipped[system.name] = reason
            log(f"peers: {system.name}: {reason}")
        else:
            runnable.append(system)
    peers = [system.load() for system in runnable]
    jobs = {"simple": config.peers_simple_jobs, "fork": config.peers_fork_jobs}
    rounds: dict[str, list[dict[str, float]]] = {peer.name: [] for peer in peers}
    try:
        for index in range(config.rounds):
            log(f"peers: round {index + 1} of {config.rounds}")
            for peer in peers if index % 2 == 0 else reversed(peers):
                rounds[peer.name].append(
                    measure(peer, peers, services, jobs[peer.worker_class], workdir, config)
                )
    finally:
        empty_tables(peers)
        services.reset()
    systems: dict[str, Any] = {}
    for system, peer in zip(runnable, peers, strict=True):
        systems[system.name] = {
            "label": system.label,
            "worker_class": system.worker_class,
            "jobs": jobs[system.worker_class],
            **{rate: summary([run[rate] for run in rounds[peer.name]]) for rate in RATES},
        }
    baseline = systems.get(BASELINE, {}).get("steady", {}).get("median")
    for entry in systems.values():
        entry["steady_vs_baseline"] = ratio(entry["steady"]["median"], baseline or 0)
    return {
        "baseline": BASELINE,
        "systems": systems,
        "skipped": skipped,
        "versions": peer_versions(runnable),
    }


def peer_versions(systems: list[System]) -> dict[str, str]:
    from importlib.metadata import version

    return {
        distribution: version(distribution)
        for system in systems
        for _, distribution in system.requires
    }


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    config_path, out_path = argv if argv is not None else sys.argv[1:]
    config = Config(**json.loads(Path(config_path).read_text()))
    # Stopped from outside: leave through the finally blocks (workers stopped, data reset).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.peers.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    workdir = Path(tempfile.mkdtemp(prefix="jobman-bench-peers-"))
    try:
        result = run_peers(config, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Path(out_path).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
