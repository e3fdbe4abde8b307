"""System checks: each names the setting or class at fault, under a stable id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from jobman import JobmanJob, registry
from jobman.checks import check_jobman
from jobman.models import FailedJob, Jobman, JobStatus
from jobman.testing import capture_dispatches, run_pending
from tests.testapp.jobs import AlwaysFailingJob

REDIS = {"URL": "redis://127.0.0.1:6379/0"}


def ids_and_messages() -> list[tuple[str, str]]:
    return [(str(e.id), e.msg) for e in check_jobman()]


def test_checks__pass_on_the_test_settings() -> None:
    assert ids_and_messages() == []


@override_settings(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "jobman"])
def test_checks__django_rq_not_installed_is_e001() -> None:
    assert ("jobman.E001", "django_rq is not in INSTALLED_APPS.") in ids_and_messages()


@override_settings(RQ_QUEUES={})
def test_checks__no_queues_is_e002() -> None:
    assert ids_and_messages() == [
        ("jobman.E002", "settings.RQ_QUEUES must be a non-empty dict of queues, found {}.")
    ]


@pytest.mark.parametrize(
    ("jobman", "message"),
    [
        ("tries=3", "settings.JOBMAN must be a dict, found str."),
        (
            {"DEFAULT_TRIES": 0},
            "settings.JOBMAN['DEFAULT_TRIES'] must be a whole number of attempts, 1 to 1,000,000, found 0.",
        ),
        (
            {"DEFAULT_BACKOFF": [10, -1]},
            "settings.JOBMAN['DEFAULT_BACKOFF'] must be seconds (an int from 0 to 31,536,000), a non-empty list of them, or jobman.exponential(...) / jobman.jittered(...) with valid values, found [10, -1].",
        ),
        (
            {"DEFAULT_TIMEOUT": "60"},
            "settings.JOBMAN['DEFAULT_TIMEOUT'] must be seconds, an int from 1 to 31,536,000 (a year), found '60'.",
        ),
        (
            {"ASYNC_COMMIT": "yes"},
            "settings.JOBMAN['ASYNC_COMMIT'] must be True or False, found 'yes'.",
        ),
        ({"RETRIES": 3}, "settings.JOBMAN['RETRIES'] is not a jobman setting; known keys: "),
        (
            {"MAX_ATTRIBS_BYTES": True},
            "settings.JOBMAN['MAX_ATTRIBS_BYTES'] must be a number of bytes, 1 or more, found True.",
        ),
        (
            {"MAX_ATTRIBS_BYTES": "1MB"},
            "settings.JOBMAN['MAX_ATTRIBS_BYTES'] must be a number of bytes, 1 or more, found '1MB'.",
        ),
        (
            {"DEFAULT_TIMEOUT": 10**12},
            "settings.JOBMAN['DEFAULT_TIMEOUT'] must be seconds, an int from 1 to 31,536,000",
        ),
        (
            {"DEFAULT_TRIES": True},
            "settings.JOBMAN['DEFAULT_TRIES'] must be a whole number of attempts",
        ),
    ],
)
def test_checks__bad_jobman_setting_is_e003(jobman: object, message: str) -> None:
    if isinstance(jobman, dict):
        jobman = {**settings.JOBMAN, **jobman}
    with override_settings(JOBMAN=jobman):
        found = ids_and_messages()
    assert len(found) == 1
    assert found[0][0] == "jobman.E003"
    assert found[0][1].startswith(message)


@override_settings(JOBMAN={**settings.JOBMAN, "DEFAULT_QUEUE": "emails"})
def test_checks__default_queue_missing_from_rq_queues_is_e004() -> None:
    assert ids_and_messages() == [
        (
            "jobman.E004",
            "settings.JOBMAN['DEFAULT_QUEUE'] names the queue 'emails', which is not in settings.RQ_QUEUES.",
        )
    ]


@pytest.fixture
def broken_job() -> Iterator[type[JobmanJob]]:
    class BrokenJob(JobmanJob):
        type = "test.broken"
        queue = "reports"
        tries = 0
        backoff = [-5]
        timeout = 0

    yield BrokenJob
    registry.unregister("test.broken")


def test_checks__each_bad_option_has_its_own_id_and_its_queue_e004(
    broken_job: type[JobmanJob],
) -> None:
    name = f"{broken_job.__module__}.{broken_job.__qualname__}"
    found = ids_and_messages()
    assert [check_id for check_id, _ in found] == [
        "jobman.E012",
        "jobman.E013",
        "jobman.E014",
        "jobman.E004",
    ]
    assert found[0][1] == f"{name}.tries must be an int from 1 to 1,000,000, found 0."
    assert found[1][1].startswith(f"{name}.timeout must be seconds, an int from 1 to 31,536,000")
    assert found[2][1].endswith("found [-5].")
    assert found[3][1] == (
        f"{name}.queue names the queue 'reports', which is not in settings.RQ_QUEUES."
    )


# Values no option may hold: each a way a row could be stranded later, or a crash.
BAD_OPTIONS = [
    ("type", "x" * 256, "jobman.E010"),
    ("type", "nul\x00type", "jobman.E010"),
    ("queue", "", "jobman.E011"),
    ("queue", 7, "jobman.E011"),
    ("tries", True, "jobman.E012"),
    ("tries", 0, "jobman.E012"),
    ("tries", 2.5, "jobman.E012"),
    ("tries", 10**12, "jobman.E012"),
    ("timeout", 10**12, "jobman.E013"),
    ("timeout", True, "jobman.E013"),
    ("timeout", "30", "jobman.E013"),
    ("timeout", float("inf"), "jobman.E013"),
    ("backoff", 10**12, "jobman.E014"),
    ("backoff", [], "jobman.E014"),
    ("backoff", [1, 10**12], "jobman.E014"),
    ("backoff", [[1]], "jobman.E014"),
    ("backoff", -1, "jobman.E014"),
    ("backoff", [1] * 1001, "jobman.E014"),
    ("retry_until", "soon", "jobman.E015"),
    ("retry_until", 0, "jobman.E015"),
    ("retry_until", 10**20, "jobman.E015"),
    ("retry_until", timedelta(days=-1), "jobman.E015"),
    ("retry_until", timedelta(days=10**6), "jobman.E015"),
    ("retry_until", False, "jobman.E015"),
    ("max_exceptions", 0, "jobman.E016"),
    ("max_exceptions", True, "jobman.E016"),
    ("unique_for", 10**20, "jobman.E017"),
    ("unique_for", "1h", "jobman.E017"),
    ("unique_until", "forever", "jobman.E018"),
    ("release_after", 0, "jobman.E019"),
    ("release_after", 10**12, "jobman.E019"),
    ("expire_after", None, "jobman.E020"),
    ("expire_after", -5, "jobman.E020"),
    ("rate_limit", ("nowhere", "k"), "jobman.E021"),
    ("rate_limit", ("test-reports",), "jobman.E021"),
    ("rate_limit", ["test-reports", "k"], "jobman.E021"),
    ("rate_limit", ("test-reports", 5), "jobman.E021"),
]


@pytest.fixture
def option_job() -> Iterator[type[JobmanJob]]:
    class OptionJob(JobmanJob):
        type = "test.option"

        def handle(self) -> None:
            pass

    yield OptionJob
    registry.unregister("test.option")


@pytest.mark.parametrize(("option", "value", "check_id"), BAD_OPTIONS)
def test_checks__a_bad_option_value_is_named_under_its_id(
    option_job: type[JobmanJob], option: str, value: object, check_id: str
) -> None:
    setattr(option_job, option, value)

    found = [
        (found_id, message) for found_id, message in ids_and_messages() if found_id != "jobman.E004"
    ]

    assert len(found) == 1, found
    assert found[0][0] == check_id
    assert f"OptionJob.{option} must be" in found[0][1]
    assert len(found[0][1]) < 400  # a huge value is shown cut


@pytest.mark.django_db
@pytest.mark.parametrize(("option", "value", "check_id"), BAD_OPTIONS)
def test_dispatch__refuses_a_class_with_a_bad_option_and_writes_nothing(
    option_job: type[JobmanJob], option: str, value: object, check_id: str
) -> None:
    setattr(option_job, option, value)

    with pytest.raises(ImproperlyConfigured, match=rf"OptionJob\.{option} must be"):
        option_job.dispatch({})
    with pytest.raises(ImproperlyConfigured, match=rf"OptionJob\.{option} must be"):
        option_job.dispatch_many([{}, {}])

    assert not Jobman.objects.exists()


@pytest.mark.django_db
def test_checks__the_good_values_of_each_option_pass(option_job: type[JobmanJob]) -> None:
    for option, value in [
        ("tries", 1_000_000),
        ("timeout", 365 * 24 * 3600),
        ("backoff", [0, 5, 365 * 24 * 3600]),
        ("backoff", (1, 2)),
        ("retry_until", timedelta(hours=1)),
        ("retry_until", 60),
        ("unique_until", "processing"),
        ("rate_limit", ("test-reports", "k")),
        ("type", "t" * 255),
    ]:
        setattr(option_job, option, value)
    assert ids_and_messages() == []
    option_job.dispatch({})


@pytest.mark.django_db
def test_runner__a_class_whose_options_went_bad_after_dispatch_fails_the_row_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with capture_dispatches():
        row = AlwaysFailingJob.dispatch({})
    monkeypatch.setattr(AlwaysFailingJob, "tries", 3)
    monkeypatch.setattr(AlwaysFailingJob, "backoff", 10**12)  # past datetime's range

    run_pending([row.pk])

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.attempts == 1
    assert "Refused to run" in (row.error_message or "")
    assert "AlwaysFailingJob.backoff must be" in (row.error_message or "")
    assert FailedJob.objects.filter(jobman=row).exists()


def test_registry__two_classes_may_not_share_a_type() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=r"Job type 'test\.hello' is used by both"):

        class Impostor(JobmanJob):
            type = "test.hello"
