import datetime, pytest
from django.db import connection
from jobman.models import Jobman, JobStatus, FailedJob
from tests.rows import make_row, make_failed
from tests.helpers import run_command
pytestmark = pytest.mark.django_db(transaction=True)

FAR = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC)
OLD = datetime.datetime(1, 1, 2, tzinfo=datetime.UTC)
BAD = {
    "attribs_text": {"attribs": "just text"},
    "attribs_list": {"attribs": [1, 2]},
    "unknown_type": {"type": "gone.away"},
    "unknown_queue": {"queue": "gone"},
    "unknown_status": {"status": "weird"},
    "huge_tries": {"max_tries": 2**31 - 1, "attempts": 2**31 - 2},
    "far_future": {"available_at": FAR},
    "ancient": {"created_at": OLD, "updated_at": OLD},
    "worker_garbage": {"worker": "garbage"},
    "chain_orphan": {"chain_id": "00000000-0000-0000-0000-000000000001", "chain_position": 7},
}
COMMANDS = [
    ("jobman_requeue_unpushed", "--older-than", "0"),
    ("jobman_requeue_unpushed", "--older-than", "0", "--check-redis"),
    ("jobman_retry", "all"),
    ("jobman_prune", "--days", "1"),
    ("jobman_reap",),
    ("jobman_status",),
    ("jobman_failed",),
]

@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("status", ["pending", "queued", "running", "failed", "completed", "retrying"])
def test_probe(kind, status):
    make_failed(age=datetime.timedelta(days=3))
    row = make_row(status, age=datetime.timedelta(days=3), worker="gone.1.x" if status == "running" else "")
    if status == "failed":
        FailedJob.objects.create(jobman=row, connection="x", queue="default", exception="x")
    Jobman.objects.filter(pk=row.pk).update(**BAD[kind])
    for cmd in COMMANDS + [("jobman_cancel", str(row.pk))]:
        try:
            r = run_command(*cmd)
        except Exception as e:
            import traceback
            print("RAISED", kind, status, cmd, repr(e), traceback.extract_tb(e.__traceback__)[-3:])
            continue
        if r.code not in (0, 1) or "Traceback" in r.err:
            print("BAD", kind, status, cmd, r.code, r.err[-300:])
