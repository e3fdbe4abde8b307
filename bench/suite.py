"""Every measurement on one database: ``python -m bench.suite CONFIG OUT``.

``bench.cli`` runs this once per database, with the environment ``bench.settings``
reads, and collects the JSON it writes to OUT. Worker throughput is measured by
enqueuing N jobs first and then timing burst workers (``bench.workerproc``) draining
them; bare RQ and jobman alternate within each round so drift hits both alike. The
sections themselves are in ``bench.sections``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.config import Config
from bench.queueing import Services
from bench.runs import fault_summary
from bench.sections import SECTIONS


def loadavg() -> float | None:
    """The 1-minute load average: other work on the machine shows up here."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def versions() -> dict[str, str]:
    import django
    import redis
    import rq
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        database = str(cursor.fetchone()[0])
    server = redis.Redis.from_url(os.environ["JOBMAN_BENCH_REDIS_URL"]).info("server")
    return {
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "rq": rq.__version__ if hasattr(rq, "__version__") else rq.VERSION,
        "redis_py": redis.__version__,
        "redis_server": str(server.get("redis_version")),
        "database": f"{connection.vendor} {database}",
    }


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    config_path, out_path = args
    config = Config(**json.loads(Path(config_path).read_text()))
    # Stopped from outside: leave through the finally blocks (workers stopped, data reset).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    services = Services()
    workdir = Path(tempfile.mkdtemp(prefix="jobman-bench-run-"))
    results: dict[str, Any] = {
        "engine": os.environ.get("JOBMAN_BENCH_DB"),
        "versions": versions(),
        "config": asdict(config),
    }
    results["timing"] = {}
    try:
        for name in config.sections:
            started, load = time.perf_counter(), loadavg()
            results[name] = SECTIONS[name](services, config, workdir)
            results["timing"][name] = {
                "seconds": round(time.perf_counter() - started, 1),
                "loadavg_1min_before_after": [load, loadavg()],
            }
            Path(out_path).write_text(json.dumps(results, indent=2))
    finally:
        results["faults_per_job"] = fault_summary()
        services.keep_below = 0
        services.reset()
        shutil.rmtree(workdir, ignore_errors=True)
    Path(out_path).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
