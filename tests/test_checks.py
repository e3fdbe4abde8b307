"""System checks: each names the setting or class at fault, under a stable id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test.utils import override_settings

from jobman import JobmanJob, registry
from jobman.checks import check_jobman

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
            "settings.JOBMAN['DEFAULT_TRIES'] must be a whole number of attempts, 1 or more, found 0.",
        ),
        (
            {"DEFAULT_BACKOFF": [10, -1]},
            "settings.JOBMAN['DEFAULT_BACKOFF'] must be seconds (an int >= 0) or a non-empty list of them, found [10, -1].",
        ),
        (
            {"DEFAULT_TIMEOUT": "60"},
            "settings.JOBMAN['DEFAULT_TIMEOUT'] must be seconds, an int of 1 or more, found '60'.",
        ),
        (
            {"ASYNC_COMMIT": "yes"},
            "settings.JOBMAN['ASYNC_COMMIT'] must be True or False, found 'yes'.",
        ),
        ({"RETRIES": 3}, "settings.JOBMAN['RETRIES'] is not a jobman setting; known keys: "),
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


def test_checks__bad_job_class_options_are_e005_and_its_queue_e004(
    broken_job: type[JobmanJob],
) -> None:
    name = f"{broken_job.__module__}.{broken_job.__qualname__}"
    assert ids_and_messages() == [
        ("jobman.E005", f"{name}.tries must be an int of 1 or more, found 0."),
        ("jobman.E005", f"{name}.timeout must be seconds (an int of 1 or more), found 0."),
        (
            "jobman.E005",
            f"{name}.backoff must be seconds or a non-empty list of seconds, found [-5].",
        ),
        (
            "jobman.E004",
            f"{name}.queue names the queue 'reports', which is not in settings.RQ_QUEUES.",
        ),
    ]


def test_registry__two_classes_may_not_share_a_type() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=r"Job type 'test\.hello' is used by both"):

        class Impostor(JobmanJob):
            type = "test.hello"
