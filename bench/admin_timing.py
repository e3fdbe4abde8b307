"""Time the jobs admin and dashboard on a table of a million rows.

    python bench/admin_timing.py                     # SQLite, 1,000,000 rows
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test python bench/admin_timing.py
    python bench/admin_timing.py --rows 100000 --repeat 7 --explain

Uses the test settings: a throwaway database is created (a file under var/ for SQLite, a
``test_jobman_<pid>`` database on the PostgreSQL server), filled with one
``INSERT ... SELECT`` (``bench.fill``), then each page is requested with Django's test
client as a superuser. Prints the median and the slowest time of each page and the
queries it made; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page (median kept)")
    parser.add_argument("--explain", action="store_true", help="print the plan of each query")
    args = parser.parse_args()

    import django

    django.setup()

    from django.conf import settings
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        return run(args.rows, args.repeat, args.explain)
    finally:
        teardown_databases(old, verbosity=0)
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()


def pages() -> list[tuple[str, str]]:
    from django.urls import reverse

    from jobman.models import FailedJob, Jobman, JobStatus

    jobs = reverse("admin:jobman_jobman_changelist")
    failed_row = Jobman.objects.filter(status=JobStatus.FAILED).order_by("-pk").first()
    last_id = Jobman.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    newest = Jobman.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    assert failed_row is not None
    assert newest is not None
    failure = FailedJob.objects.order_by("-pk").first()
    assert failure is not None
    return [
        ("changelist", jobs),
        ("status = failed", f"{jobs}?status__exact=failed"),
        ("status = completed", f"{jobs}?status__exact=completed"),
        ("status = pending (rare)", f"{jobs}?status__exact=pending"),
        ("type = app.sync_account", f"{jobs}?type=app.sync_account"),
        ("queue = high", f"{jobs}?queue=high"),
        ("has failed at least once", f"{jobs}?failed=yes"),
        ("status = failed, queue = low", f"{jobs}?status__exact=failed&queue=low"),
        (
            "date: newest month",
            f"{jobs}?created_at__year={newest.year}&created_at__month={newest.month}",
        ),
        ("page 10", f"{jobs}?p=10"),
        ("search: an id", f"{jobs}?q={last_id // 2}"),
        ("search: text, many matches", f"{jobs}?q=503"),
        ("search: text, no match (full scan)", f"{jobs}?q=no-such-words"),
        ("job page (failed)", reverse("admin:jobman_jobman_change", args=[failed_row.pk])),
        ("failed jobs changelist", reverse("admin:jobman_failedjob_changelist")),
        ("failed job page", reverse("admin:jobman_failedjob_change", args=[failure.pk])),
        ("dashboard", reverse("admin:jobman_dashboard")),
        ("dashboard JSON", reverse("admin:jobman_dashboard_json")),
    ]


def run(rows: int, repeat: int, explain: bool) -> int:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.fill import fill
    from tests.support.rows import make_row

    print(f"database: {connection.vendor}, filling {rows:,} rows ...", flush=True)
    filled = fill(rows)
    # A few rows in the states a busy table holds few of.
    for status in ("pending", "queued", "retrying", "running"):
        for _ in range(20):
            make_row(status, job_type="app.send_email")
    print(f"filled in {filled['total_seconds']} s", flush=True)

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)

    failures = 0
    print(f"\n{'page':34} {'median':>9} {'slowest':>9} {'queries':>8}")
    for name, url in pages():
        timings: list[float] = []
        queries: list[dict[str, Any]] = []
        for attempt in range(repeat + 1):  # the first request warms caches and is not kept
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - started
            if response.status_code != 200:
                print(f"{name}: HTTP {response.status_code}")
                failures += 1
                break
            if attempt:
                timings.append(elapsed)
            queries = captured.captured_queries
        if not timings:
            continue
        print(
            f"{name:34} {statistics.median(timings) * 1000:7.0f} ms "
            f"{max(timings) * 1000:7.0f} ms {len(queries):8}",
            flush=True,
        )
        if explain:
            show_plans(queries, slower_than=0.05)
    return 1 if failures else 0


def show_plans(queries: list[dict[str, Any]], slower_than: float) -> None:
    from django.db import connection

    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ANALYZE "
    for query in queries:
        if float(query["time"]) < slower_than or not query["sql"].startswith("SELECT"):
            continue
        print(f"    {float(query['time']) * 1000:.0f} ms: {query['sql'][:300]}")
        with connection.cursor() as cursor:
            cursor.execute(prefix + query["sql"])
            for row in cursor.fetchall():
                print("        " + " ".join(str(part) for part in row))


if __name__ == "__main__":
    sys.exit(main())
