"""jobman.storable: every outcome a job produces can be written, on every database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobman.models import FailedJob, Jobman, JobStatus
from jobman.storable import cap_head, cap_tail, storable
from tests.helpers import work
from tests.testapp.jobs import UnrulyOutputJob

# Every kind of character, lone surrogates (Cs) and controls (Cc, NUL among them) included.
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200)


@given(ANY_TEXT)
def test_storable__any_text_encodes_and_has_no_nul(text: str) -> None:
    result = storable(text)
    result.encode("utf-8")
    assert "\x00" not in result


def test_storable__replacements_are_visible_escapes() -> None:
    assert storable("a\x00b") == "a\\x00b"
    assert storable("file-\udcff.csv") == "file-\\udcff.csv"
    assert storable("plain é") == "plain é"


@given(ANY_TEXT, st.integers(min_value=40, max_value=300))
def test_caps__storable_and_within_the_limit(text: str, limit: int) -> None:
    for cap in (cap_head, cap_tail):
        result = cap(text, limit)
        result.encode("utf-8")
        assert "\x00" not in result
        assert len(result) <= limit


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_worker__unstorable_failure_text_is_written_escaped(worker_class: str) -> None:
    row, second = UnrulyOutputJob.dispatch({"fail": True}), UnrulyOutputJob.dispatch({"fail": True})

    work("--worker-class", worker_class)  # a SimpleWorker that quit would leave the second

    second.refresh_from_db()
    assert second.status == JobStatus.FAILED
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.error_message is not None
    assert "report-\\udcff.csv \\x00 end" in row.error_message
    assert "opening report-\\udcff.csv \\x00 end" in row.logs
    assert "FileNotFoundError" in (row.exception or "")
    assert FailedJob.objects.filter(jobman=row).exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_worker__unstorable_completed_code_is_written_escaped_and_cut(worker_class: str) -> None:
    rows = [UnrulyOutputJob.dispatch({}) for _ in range(2)]

    work("--worker-class", worker_class)  # a SimpleWorker that quit would leave the second

    for row in rows:
        row.refresh_from_db()
        assert row.status == JobStatus.COMPLETED
        code = row.completed_code or ""
        assert code.startswith("report-\\udcff.csv \\x00 end")
        assert len(code) <= 255
        assert code.endswith("characters]")
    assert not Jobman.objects.exclude(status=JobStatus.COMPLETED).exists()
