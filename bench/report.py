"""Turn the bench's figures into Markdown tables (printed, and pasted into BENCHMARKS.md)."""

from __future__ import annotations

from typing import Any

ENGINES = {"sqlite": "SQLite (file, WAL)", "postgres": "PostgreSQL"}
SQLITE_MODES = {
    "tuned": "SQLite (file, WAL, synchronous=NORMAL, IMMEDIATE transactions)",
    "default": "SQLite (file, WAL, Django's defaults otherwise)",
}
ADMIN_TIMING = (
    'admin pages at 1,000,000 rows: `python bench/admin_timing.py` (see "The admin at '
    '1,000,000 rows")'
)


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(value: Any, goal: float | None) -> str:
    if value is None:
        return "-"
    text = f"{value:.2f}"
    if goal is not None:
        text += " ok" if value >= goal else " **below**"
    return text


def _goal(goal: float | None) -> str:
    return f"≥ {goal:.2f}" if goal is not None else ""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cpu(entry: dict[str, Any]) -> str:
    rq, jobman = entry.get("rq", {}).get("cpu_ms_per_job"), entry["jobman"].get("cpu_ms_per_job")
    if jobman is None:
        return "-"
    text = f"{rq:.2f} / {jobman:.2f}" if rq is not None else f"- / {jobman:.2f}"
    if rq:
        text += f" ({rq / jobman:.2f})"
    return text


def throughput_rows(db: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []

    def add(label: str, entry: dict[str, Any] | None, goal: float | None) -> None:
        if not entry:
            return
        rows.append(
            [
                f"{label} ({entry.get('jobs', '?')} jobs)",
                _num(entry["rq"]["median"]),
                _num(entry["jobman"]["median"]),
                _ratio(entry["ratio"], goal),
                _goal(goal),
                _cpu(entry),
            ]
        )

    dispatch = db.get("dispatch", {})
    add("dispatch one at a time: `Job.dispatch` vs `Queue.enqueue`", dispatch.get("single"), 0.6)
    add("bulk: `dispatch_many` vs `enqueue_many`", dispatch.get("bulk"), 0.6)
    workers = db.get("workers", {})
    add("worker, forking `Worker`", workers.get("fork"), 0.85)
    add("worker, `SimpleWorker`", workers.get("simple"), 0.85)
    add("pool of 2 forking workers", workers.get("pool2"), 0.85)
    for processes, entry in db.get("scaling", {}).items():
        add(f"{processes} `SimpleWorker` process(es) at once", entry, None)
    failing = db.get("failing", {})
    add("always failing (tries=1), forking `Worker`", failing.get("fork"), None)
    add("always failing (tries=1), `SimpleWorker`", failing.get("simple"), None)
    whatif = db.get("whatif", {})
    for name, label, base in (
        ("simple-async-commit", "`SimpleWorker` with `ASYNC_COMMIT`", "simple"),
        ("fork-async-commit", "forking `Worker` with `ASYNC_COMMIT`", "fork"),
        ("pool-async-commit", "pool of 2 with `ASYNC_COMMIT`", "pool2"),
        ("fork-keep-connection", "what-if: forking, worker keeps a connection open", "fork"),
    ):
        entry, rq = whatif.get(name), workers.get(base, {}).get("rq")
        if entry and rq and "variant" in entry:
            value, gain = entry["variant"]["median"], entry["ratio"]
            rows.append(
                [
                    f"{label} ({entry['jobs']} jobs; jobman as it is: "
                    f"{_num(entry['jobman']['median'])}, gain x{gain:.2f})",
                    _num(rq["median"]) + " (above)",
                    _num(value),
                    _ratio(round(value / rq["median"], 3), 0.85),
                    _goal(0.85),
                    _cpu({"rq": rq, "jobman": entry["variant"]}),
                ]
            )
    return rows


def _memory_rows(memory: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, entry in memory.items():
        if not isinstance(entry, dict) or "points" not in entry:
            continue
        points = [str(p) for p in entry["points"]]
        for role in ("worker", "horse"):
            if role not in entry:
                continue
            data = entry[role]
            extrapolated = data["extrapolated_5k_to_50k_pct"]
            rows.append(
                [
                    f"{key} ({entry['jobs']:,} jobs): {role if role == 'worker' else 'work-horse'}",
                    " / ".join(f"{data['rss_kib'][p] / 1024:.1f}" for p in points)
                    + f" at jobs {', '.join(points)}",
                    f"{data['growth_pct']:+.1f}%",
                    f"{data['bytes_per_job']:,.0f}",
                    f"{extrapolated:+.1f}%" + (" ok" if extrapolated < 10 else " **above**"),
                ]
            )
    return rows


def peers_rows(peers: dict[str, Any]) -> list[list[str]]:
    return [
        [
            f"{entry['label']}: {entry['jobs']:,} jobs",
            _num(entry["process"]["median"]),
            _num(entry["steady"]["median"]),
            _ratio(entry["steady_vs_baseline"], None),
            _num(entry["dispatch"]["median"]),
        ]
        for entry in peers["systems"].values()
    ]


def render_peers(peers: dict[str, Any]) -> list[str]:
    out = [
        "Peers, one worker process each (process: jobs / the worker process's wall time, "
        "start-up included; steady: jobs / first start to last end as the system stored "
        "them; dispatch: one call a job):",
        "",
    ]
    if peers["systems"]:
        out += _table(
            [
                "jobs/second (median)",
                "process",
                "steady",
                f"steady / {peers['baseline']}",
                "dispatch",
            ],
            peers_rows(peers),
        )
        out.append("")
    if peers.get("versions"):
        out += [", ".join(f"{k} {v}" for k, v in peers["versions"].items()), ""]
    out += [f"- {name}: {reason}" for name, reason in peers.get("skipped", {}).items()]
    if peers.get("skipped"):
        out.append("")
    return out


def render_database(engine: str, db: dict[str, Any], sqlite_mode: str = "tuned") -> list[str]:
    heading = SQLITE_MODES.get(sqlite_mode) if engine == "sqlite" else None
    out = [f"### {heading or ENGINES.get(engine, engine)}", ""]
    versions = db.get("versions", {})
    if versions:
        out += [", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    rows = throughput_rows(db)
    if rows:
        header = [
            "jobs/second (median)",
            "bare RQ",
            "jobman",
            "jobman/RQ",
            "goal",
            "CPU ms/job: RQ / jobman (ratio)",
        ]
        out += _table(header, rows)
        out.append("")

    if db.get("peers"):
        out += render_peers(db["peers"])

    million = db.get("million")
    if million:
        fill = million["fill"]
        out += [
            f"With {fill['rows']:,} finished rows in `jobmans` (filled in "
            f"{fill['total_seconds']} s) against an empty table, jobman only:",
            "",
        ]
        labels = {
            "fork": "jobman worker, forking `Worker`",
            "simple": "jobman worker, `SimpleWorker`",
        }
        mrows = [
            [
                f"{labels[wc]} ({million['jobs'][wc]} jobs)",
                _num(million[wc]["empty"]["median"]),
                _num(million[wc]["filled"]["median"]),
                _ratio(million[wc]["ratio"], 0.9),
                _goal(0.9),
            ]
            for wc in ("fork", "simple")
            if wc in million
        ]
        dispatch = million.get("dispatch_single")
        if dispatch:
            mrows.append(
                [
                    "`Job.dispatch` one at a time",
                    _num(dispatch["empty"]["median"]),
                    _num(dispatch["filled"]["median"]),
                    _ratio(dispatch["ratio"], None),
                    "",
                ]
            )
        out += _table(
            [
                "jobs/second (median)",
                "empty table",
                f"{fill['rows']:,} rows",
                "filled/empty",
                "goal",
            ],
            mrows,
        )
        out.append("")

    memory = db.get("memory")
    if memory:
        out += [
            "Worker memory (RSS, MiB); the goal is < 10% growth from job 5,000 to 50,000, "
            "extrapolated from the measured bytes per job:",
            "",
        ]
        out += _table(
            ["process", "RSS (MiB)", "growth", "bytes/job", "5k → 50k (goal < 10%)"],
            _memory_rows(memory),
        )
        out.append("")

    reconnect = db.get("reconnect")
    if reconnect:
        line = (
            f"Database connection: open {reconnect['connect_ms']:.2f} ms. The statements of one "
            f"attempt: {reconnect['attempt_open_connection_ms']:.2f} ms on an open connection, "
            f"{reconnect['attempt_fresh_connection_ms']:.2f} ms on a fresh one closed afterwards "
            f"(reconnect cost {reconnect['reconnect_cost_per_job_ms']:.2f} ms per job)."
        )
        if "close_last_connection_ms" in reconnect:
            other = reconnect["attempt_fresh_connection_another_open_ms"]
            line += (
                f" Closing the last connection to the file after a write: "
                f"{reconnect['close_last_connection_ms']:.2f} ms (WAL checkpoint); with another "
                f"connection open: {reconnect['close_with_another_open_ms']:.2f} ms, and the "
                f"fresh-connection attempt {other:.2f} ms."
            )
        out += [line, ""]
    prune = (million or {}).get("prune")
    if prune:
        out += [
            f"`jobman_prune` of the {prune['jobs']:,} finished rows (and {prune['failed_jobs']:,} "
            f"failed_jobs rows), in batches of 1,000: {prune['seconds']:,} s, "
            f"{_num(prune['rows_per_second'])} rows/s.",
            "",
        ]
    out += [f"- {ADMIN_TIMING}", ""]
    return out


def render_faults(engine: str, faults: dict[str, Any]) -> list[str]:
    out = [f"#### Minor page faults per job on {ENGINES.get(engine, engine)} (median)", ""]
    rows = [[case, f"{v['worker']:,.0f}", f"{v['horses']:,.0f}"] for case, v in faults.items()]
    out += _table(["run", "worker process", "work-horses"], rows)
    out.append("")
    return out


def render_counts(engine: str, counts: dict[str, Any]) -> list[str]:
    out = [f"#### Per job on {ENGINES.get(engine, engine)}: statements and round trips", ""]
    rows = []
    for case, roles in counts.items():
        if case.startswith("dispatch-"):
            kinds, horse = roles["kinds"], {}
        else:
            kinds, horse = roles["worker"]["kinds"], roles["horse"]["kinds"]

        def both(kind: str, kinds: dict[str, Any] = kinds, horse: dict[str, Any] = horse) -> str:
            worker_count, horse_count = kinds.get(kind, 0), horse.get(kind, 0)
            if horse_count:
                return f"{worker_count:g} + {horse_count:g} horse"
            return f"{worker_count:g}"

        rows.append(
            [
                case,
                both("sql"),
                both("db-connect"),
                both("db-commit"),
                both("redis"),
                both("redis-connect"),
            ]
        )
    out += _table(
        ["case", "SQL statements", "DB connects", "commits", "Redis round trips", "Redis connects"],
        rows,
    )
    out.append("")
    for case, roles in counts.items():
        if not case.endswith("-jobman"):
            continue
        sqls: dict[str, float] = {}
        for role in ("worker", "horse") if "worker" in roles else (None,):
            part = roles[role] if role else roles
            for statement, count in part["sql"].items():
                sqls[statement] = sqls.get(statement, 0) + count
        if sqls:
            out.append(
                f"- {case}: " + "; ".join(f"{count:g}x `{sql}`" for sql, count in sqls.items())
            )
    out.append("")
    return out


def render(results: dict[str, Any]) -> str:
    out = ["## Results", ""]
    machine = results.get("machine", {})
    if machine:
        out += [", ".join(f"{k}: {v}" for k, v in machine.items()), ""]
    if results.get("command"):
        out += [
            f"Command: `{results['command']}`"
            + (f" ({results['seconds']} s)" if results.get("seconds") else ""),
            "",
        ]
    for engine, db in results.get("databases", {}).items():
        out += render_database(engine, db, results.get("sqlite_mode", "tuned"))
    for engine, db in results.get("databases", {}).items():
        if db.get("counts"):
            out += render_counts(engine, db["counts"])
    for engine, db in results.get("databases", {}).items():
        if db.get("faults_per_job"):
            out += render_faults(engine, db["faults_per_job"])
    for engine, db in results.get("databases", {}).items():
        profile = db.get("profile")
        if profile and "skipped" not in profile:
            out += [
                f"#### Where the time goes on {ENGINES.get(engine, engine)} (py-spy, wall clock)",
                "",
            ]
            for case, entry in profile.items():
                if case == "dir":
                    continue
                if case == "dispatch":
                    for mode, data in entry.items():
                        top = ", ".join(
                            f"{name} {ms:.3f}"
                            for name, ms in list(data["cumulative_ms_per_job"].items())[2:10]
                        )
                        out.append(
                            f"- jobman dispatch, {mode} (cProfile, ms/job under the profiler, "
                            f"total {data['total_ms_per_job']:.3f}): {top}"
                        )
                    continue
                out.append(f"- {case}: {entry.get('summary', '')}")
            out.append("")
    return "\n".join(out)
