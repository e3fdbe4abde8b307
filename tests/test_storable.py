"""jobman.storable: every outcome a job produces can be written, on every database."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobman.models import FailedJob, Jobman, JobStatus
from jobman.storable import cap_head, cap_tail, storable
from tests.faults.support import record
from tests.support.helpers import work
from tests.testapp.jobs import GeneratedOutputJob, UnrulyOutputJob

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


# Any text, through real workers of each class, on the database the run uses.

CODE_POINTS = st.lists(
    st.integers(min_value=0, max_value=0x10FFFF)
    | st.sampled_from([0, 0xD800, 0xDCFF, 0xDFFF, 0x1B, 0x7F, 0xFFFE]),
    max_size=40,
)
FIELDS = ("log", "error", "code")
OUTPUT = st.fixed_dictionaries(
    {
        "log": CODE_POINTS,
        "error": CODE_POINTS,
        "code": CODE_POINTS,
        "fail": st.booleans(),
        "repeat": st.sampled_from([1, 1, 1, 50, 5000]),  # up to 200,000 characters a field
    }
)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_worker__any_generated_text_in_every_field_is_written(worker_class: str) -> None:
    seen = {"cases": 0}

    # Each example is a burst of jobs run by one worker process: a worker per job would
    # cost a second each.
    @settings(
        max_examples=3,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(cases=st.lists(OUTPUT, min_size=6, max_size=6))
    # The message of the first a lone surrogate: RQ keeps the traceback in Redis too.
    @example(cases=[{"log": [], "error": [0xDCFF], "code": [], "fail": True, "repeat": 1}] * 6)
    def check(cases: list[dict[str, Any]]) -> None:
        rows = [GeneratedOutputJob.dispatch(case) for case in cases]

        work("--worker-class", worker_class, timeout=120)  # a SimpleWorker that quit leaves rows

        for row, case in zip(rows, cases, strict=True):
            row.refresh_from_db()
            assert row.status == (JobStatus.FAILED if case["fail"] else JobStatus.COMPLETED)
            for value in (row.logs, row.error_message or "", row.completed_code or ""):
                value.encode("utf-8")
                assert "\x00" not in value

            shown = {key: storable("".join(map(chr, case[key])))[:30] for key in FIELDS}
            assert shown["log"] in row.logs
            if case["fail"]:
                assert shown["error"] in (row.error_message or "")
            else:
                assert (row.completed_code or "").startswith(shown["code"])
        seen["cases"] += len(cases)

    check()
    record(f"generated_footprints[{worker_class}]", faults="hypothesis-built text", **seen)
