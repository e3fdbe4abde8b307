"""``python -m bench``: jobman against bare RQ, side by side, on SQLite and PostgreSQL; and,
in section ``peers``, against the other Django job systems installed (``--group peers``).

Same machine, same Redis, same worker classes, same job counts; every figure is the
median of ``--rounds`` rounds (the systems alternate within a round). See
BENCHMARKS.md for what each row means and the latest figures.

    python -m bench                      everything, both databases (about 30 minutes)
    python -m bench --quick              small counts, one round: a smoke test for CI
    python -m bench --db sqlite --sections workers,dispatch --json out.json
    python -m bench --db sqlite --sqlite-mode default --sections peers
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from bench import report, services
from bench.common import ROOT, process_env
from bench.config import Config
from bench.processes import stop_process
from bench.sections import DEFAULT_SECTIONS, SECTIONS

SUITE_TIMEOUT = 3 * 3600


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small counts and one round (about a minute); asserts nothing about time",
    )
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 3; 1 with --quick)")
    parser.add_argument(
        "--sections",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated subset of: {', '.join(SECTIONS)} "
        f"(default: all but scaling, and profile, which --profile-dir adds)",
    )
    parser.add_argument(
        "--redis-url",
        help="an empty Redis database to use (default: a free "
        "database 9, 8 or 7 on 127.0.0.1:6379, or a throwaway redis-server)",
    )
    parser.add_argument(
        "--sqlite-mode",
        choices=["default", "tuned"],
        default="tuned",
        help="SQLite options: tuned (default) is WAL, synchronous=NORMAL, IMMEDIATE "
        "transactions; default is WAL with Django's defaults otherwise",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("JOBMAN_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/"),
        help="PostgreSQL server (its database part is ignored)",
    )
    parser.add_argument(
        "--pg-db",
        default="jobman_bench",
        help="scratch database to create, and drop at the end (default jobman_bench)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write every figure to PATH as JSON")
    parser.add_argument(
        "--profile-dir",
        metavar="DIR",
        help="keep py-spy's raw samples here (default: a temporary directory)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a count, e.g. --set fill_rows=200000 (see bench.config.Config)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def build_config(args: argparse.Namespace) -> Config:
    config = Config.quick() if args.quick else Config()
    if args.rounds:
        config.rounds = args.rounds
    wanted = set(args.sections.split(","))
    if args.profile_dir:
        config.profile_dir = str(Path(args.profile_dir).resolve())
        wanted.add("profile")
    config.sections = [s for s in SECTIONS if s in wanted]
    names = {f.name for f in fields(Config)} - {"sections", "profile_dir"}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in names:
            raise SystemExit(f"--set: unknown count {key!r}; see bench.config.Config")
        current = getattr(config, key)
        if isinstance(current, list):
            setattr(config, key, value.split(","))
        else:
            setattr(config, key, type(current)(value))
    return config


def _git(*args: str) -> str:
    """The output of ``git ARGS`` in the project, stripped."""
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "jobman")
        info["jobman_commit"] = head + (" + uncommitted changes in jobman/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def run_suite(
    engine: str,
    config: Config,
    redis: services.RedisHandle,
    db: services.DatabaseHandle,
    workdir: Path,
    sqlite_mode: str,
) -> dict[str, Any]:
    config_path = workdir / f"config-{engine}.json"
    out_path = workdir / f"result-{engine}.json"
    config_path.write_text(json.dumps(asdict(config)))
    env = process_env(
        {
            **db.env(),
            "JOBMAN_BENCH_REDIS_URL": redis.url,
            "JOBMAN_BENCH_REDIS_OWNER": redis.owner,
            "JOBMAN_BENCH_SQLITE_MODE": sqlite_mode,
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.suite", str(config_path), str(out_path)], cwd=ROOT, env=env
    )
    try:
        code = process.wait(SUITE_TIMEOUT)
    except BaseException:
        stop_process(process, timeout=30)
        raise
    if code != 0:
        raise RuntimeError(f"the {engine} suite failed (exit code {code}); see its output above")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Stopped from outside: still stop the suite, drop the database, release Redis.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    config = build_config(args)
    engines = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    started = time.perf_counter()
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "command": command.strip(),
        "machine": machine(),
        "sqlite_mode": args.sqlite_mode,
        "databases": {},
    }

    try:
        redis = services.claim_redis(args.redis_url)
    except services.ServiceError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    results["redis"] = {"url": redis.url, "notes": redis.notes}
    print(f"bench: Redis {redis.url}; databases: {', '.join(engines)}", file=sys.stderr, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="jobman-bench-"))
    failed = False
    try:
        for engine in engines:
            db = (
                services.create_postgres(args.pg_url, args.pg_db)
                if engine == "postgres"
                else services.create_sqlite()
            )
            try:
                results["databases"][engine] = run_suite(
                    engine, config, redis, db, workdir, args.sqlite_mode
                )
            finally:
                db.drop()
            if args.json:  # keep what is done, should a later database fail
                Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    except (services.ServiceError, RuntimeError) as error:
        print(f"bench: {error}", file=sys.stderr)
        failed = True
    finally:
        redis.release()
        shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started, 1)

    if results["databases"]:
        print(report.render(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"bench: figures written to {args.json}", file=sys.stderr)
    if failed:
        return 1
    return 0
