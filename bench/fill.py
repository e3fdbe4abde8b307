"""Fill the jobmans table fast with rows that look like a busy site's history.

One ``INSERT ... SELECT`` over ``generate_series`` (PostgreSQL) or a recursive CTE
(SQLite): ``rows`` jobs created over the last 30 days, oldest first, 96% completed
(2% of them on a second attempt, some with a completed_code or log lines), 3% failed
after 3 tries (each with its ``failed_jobs`` row) and 1% cancelled, across four job types
and three queues.
"""

from __future__ import annotations

import time

from django.db import connection

TYPES = ("app.send_email", "app.resize_image", "app.sync_account", "app.build_report")
QUEUES = ("default", "default", "high", "low")

_POSTGRES_JOBMANS = """
INSERT INTO jobmans (type, queue, status, attribs, logs, error_message, exception,
    completed_code, attempts, max_tries, available_at, pushed_at, started_at, failed_at,
    completed_at, worker, cancel_reason, progress_note, history, created_at, updated_at)
SELECT
    (ARRAY[{types}])[1 + g %% 4],
    (ARRAY[{queues}])[1 + (g / 7) %% 4],
    st,
    jsonb_build_object('n', g, 'user_id', g %% 5000, 'locale', 'en'),
    CASE WHEN g %% 10 = 0 THEN '[' || c::text || '] [attempt 1] sent to user ' || g || E'\\n'
         ELSE '' END,
    CASE WHEN st = 'failed' THEN 'RuntimeError: upstream answered 503' END,
    CASE WHEN st = 'failed' THEN E'Traceback (most recent call last):\\n  File "app/jobs.py", '
        || E'line 42, in handle\\n    client.post(payload)\\nRuntimeError: upstream answered 503\\n'
    END,
    CASE WHEN st = 'completed' AND g %% 50 = 0 THEN 'already-exists' END,
    CASE st WHEN 'cancelled' THEN 0 WHEN 'failed' THEN 3 ELSE 1 + (g %% 50 = 1)::int END,
    3,
    NULL,
    c + interval '5 milliseconds',
    CASE WHEN st <> 'cancelled' THEN c + interval '20 milliseconds' END,
    CASE WHEN st = 'failed' THEN c + interval '2 seconds' END,
    CASE WHEN st = 'completed' THEN c + interval '1 second' END,
    CASE WHEN st <> 'cancelled' THEN 'web-' || (g %% 4) || '.' || (1000 + g %% 8) ELSE '' END,
    '',
    '',
    '[]'::jsonb,
    c,
    c + interval '2 seconds'
FROM (
    SELECT g,
           now() - (1 - g::float8 / %(rows)s) * interval '30 days' AS c,
           CASE WHEN g %% 100 < 96 THEN 'completed' WHEN g %% 100 < 99 THEN 'failed'
                ELSE 'cancelled' END AS st
    FROM generate_series(1, %(rows)s) AS g
) AS s
"""

_POSTGRES_FAILED = """
INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at, jobman_id)
SELECT gen_random_uuid(), 'redis://127.0.0.1:6379/0', queue,
       jsonb_build_object('jobman_id', id, 'type', type, 'queue', queue, 'attribs', attribs,
                          'max_tries', max_tries),
       exception, failed_at, id
FROM jobmans WHERE status = 'failed' AND id > %(above)s
"""

# SQLite stores Django's datetimes as UTC text and JSON as text.
_SQLITE_TS = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', {julian})"

_SQLITE_JOBMANS = """
WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < %(rows)s),
s AS (
    SELECT g,
           julianday('now') - 30.0 * (1.0 - g * 1.0 / %(rows)s) AS c,
           CASE WHEN g %% 100 < 96 THEN 'completed' WHEN g %% 100 < 99 THEN 'failed'
                ELSE 'cancelled' END AS st
    FROM seq
)
INSERT INTO jobmans (type, queue, status, attribs, logs, error_message, exception,
    completed_code, attempts, max_tries, available_at, pushed_at, started_at, failed_at,
    completed_at, worker, cancel_reason, progress_note, history, created_at, updated_at)
SELECT
    CASE g %% 4 {type_cases} END,
    CASE (g / 7) %% 4 {queue_cases} END,
    st,
    json_object('n', g, 'user_id', g %% 5000, 'locale', 'en'),
    CASE WHEN g %% 10 = 0 THEN '[' || {created} || '] [attempt 1] sent to user ' || g || char(10)
         ELSE '' END,
    CASE WHEN st = 'failed' THEN 'RuntimeError: upstream answered 503' END,
    CASE WHEN st = 'failed' THEN 'Traceback (most recent call last):' || char(10)
        || '  File "app/jobs.py", line 42, in handle' || char(10) || '    client.post(payload)'
        || char(10) || 'RuntimeError: upstream answered 503' || char(10) END,
    CASE WHEN st = 'completed' AND g %% 50 = 0 THEN 'already-exists' END,
    CASE st WHEN 'cancelled' THEN 0 WHEN 'failed' THEN 3 ELSE 1 + (g %% 50 = 1) END,
    3,
    NULL,
    {pushed},
    CASE WHEN st <> 'cancelled' THEN {started} END,
    CASE WHEN st = 'failed' THEN {failed} END,
    CASE WHEN st = 'completed' THEN {completed} END,
    CASE WHEN st <> 'cancelled' THEN 'web-' || (g %% 4) || '.' || (1000 + g %% 8) ELSE '' END,
    '',
    '',
    '[]',
    {created},
    {updated}
FROM s
"""

_SQLITE_FAILED = """
INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at, jobman_id)
SELECT lower(hex(randomblob(16))), 'redis://127.0.0.1:6379/0', queue,
       json_object('jobman_id', id, 'type', type, 'queue', queue, 'attribs', json(attribs),
                   'max_tries', max_tries),
       exception, failed_at, id
FROM jobmans WHERE status = 'failed' AND id > %(above)s
"""


def _sqlite_sql() -> str:
    def at(seconds: float) -> str:
        return _SQLITE_TS.format(julian=f"c + {seconds} / 86400.0")

    def cases(values: tuple[str, ...]) -> str:
        return " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))

    return _SQLITE_JOBMANS.format(
        type_cases=cases(TYPES),
        queue_cases=cases(QUEUES),
        created=at(0),
        pushed=at(0.005),
        started=at(0.02),
        failed=at(2),
        completed=at(1),
        updated=at(2),
    )


def _max_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM jobmans")
        return int(cursor.fetchone()[0])


def fill(rows: int) -> dict[str, float]:
    """Add ``rows`` historical jobs (and their failed_jobs rows); returns timings."""
    started = time.perf_counter()
    above = _max_id()
    params = {"rows": rows, "above": above}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            quoted = ", ".join(f"'{t}'" for t in TYPES), ", ".join(f"'{q}'" for q in QUEUES)
            cursor.execute(_POSTGRES_JOBMANS.format(types=quoted[0], queues=quoted[1]), params)
            cursor.execute(_POSTGRES_FAILED, params)
        else:
            cursor.execute(_sqlite_sql(), params)
            cursor.execute(_SQLITE_FAILED, params)
    inserted = time.perf_counter()
    if connection.vendor == "postgresql":
        # What autovacuum would have done long ago on a table this old.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE jobmans")
            cursor.execute("VACUUM ANALYZE failed_jobs")
    else:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {
        "rows": rows,
        "insert_seconds": round(inserted - started, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "max_id": _max_id(),
    }
