"""A BaseException raised by handle() is an outcome: written first, then obeyed."""

from __future__ import annotations

import pytest

from jobman.models import FailedJob, JobStatus
from tests.support.helpers import manage
from tests.testapp.jobs import ExitsJob, HelloJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

RAISED = {
    "SystemExit": "SystemExit: 3",
    "KeyboardInterrupt": "KeyboardInterrupt: ",
    "Abandon": "Abandon: gave up the ghost",
}


@pytest.mark.parametrize("worker_class", ["fork", "simple"])
@pytest.mark.parametrize("kind", sorted(RAISED))
def test_base_exception__recorded_with_its_type_message_traceback_and_logs(
    worker_class: str, kind: str
) -> None:
    row = ExitsJob.dispatch({"raise": kind})
    later = HelloJob.dispatch({})

    result = manage("jobman_work", "--burst", "--worker-class", worker_class, timeout=60)

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED, result.err
    assert row.error_message == RAISED[kind]
    assert kind in (row.exception or "")
    assert "Traceback" in (row.exception or "")
    assert "about to leave" in row.logs
    assert FailedJob.objects.filter(jobman=row).exists()
    later.refresh_from_db()
    if worker_class == "fork":
        # The work-horse's exit is its own: the worker goes on with the next job.
        assert result.code == 0, result.err
        assert later.status == JobStatus.COMPLETED
    elif kind in ("SystemExit", "KeyboardInterrupt"):
        # The one process obeys, after the row is written; the next job waits for a worker.
        assert later.status == JobStatus.QUEUED, result.err
    else:
        # Any other BaseException asks nothing of the worker: it goes on.
        assert result.code == 0, result.err
        assert later.status == JobStatus.COMPLETED
