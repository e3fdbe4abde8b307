"""Scenario 11: hostile query strings and POSTs against every admin page.

Property-based (hypothesis): each changelist, change page and action of the jobs, failed
jobs, batches and schedules admins, and the dashboard, is driven with generated parameters (huge,
zero and negative numbers, non-ASCII digits, NUL, invalid UTF-8, long text, lookups of
every shape). Every answer is a page, a redirect (Django's own ``?e=1`` for a bad filter)
or a 4xx; never a 5xx. A POST that is refused changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from jobman import admin as jobman_admin
from jobman import bounds
from jobman.models import FailedJob, JobBatch, Jobman, JobSchedule, JobStatus
from tests.faults.support import record
from tests.faults.test_hostile import HOSTILE
from tests.support.rows import make_failed, make_row

pytestmark = [pytest.mark.django_db, pytest.mark.faults]

# Values past every bound jobman and the databases know, and the near misses.
NUMBERS = [
    "0",
    "-1",
    "1",
    "2",
    "00",
    "1_0",
    " 7",
    "7 ",
    "+3",
    "1e400",
    "nan",
    "inf",
    "0x10",
    "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() and int() take them
    "\u00b2",  # superscript two: isdigit(), yet int() refuses it
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "9" * 30,
    "9" * 5000,
    "1970",
    "9999",
    "10000",
    "12",
    "13",
    "31",
    "32",
]
WORDS = [
    "",
    "\x00",
    "a\x00b",
    "queued",
    "failed",
    "test.hello",
    "default",
    "yes",
    "no",
    "running",
    "cancelled",
    "completed",
    str(uuid.UUID(int=1)),
    "not-a-uuid",
    "x" * 3000,
    "<script>alert(1)</script>",
    "'; DROP TABLE jobman; --",
    "%",
    "_",
    "\\",
    "\u202e",
    "\U0001f600",
]
VALUES = st.one_of(
    st.sampled_from(NUMBERS),
    st.sampled_from(WORDS),
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
# Raw bytes that are not UTF-8, percent-encoded into the query string as they are.
RAW = st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"%", b"\x00"])

# Parameters Django's changelist reads, lookups of every shape on the models' fields, and
# each admin's own filters.
COMMON_KEYS = ["p", "o", "q", "all", "e", "_to_field", "_popup", "_facets", "id", "id__gt"]
KEYS = {
    "jobman": [
        *COMMON_KEYS,
        "status",
        "status__exact",
        "status__in",
        "type",
        "queue",
        "failed",
        "batch__id__exact",
        "chain_id__exact",
        "schedule",
        "created_at__year",
        "created_at__month",
        "created_at__day",
        "created_at__gte",
        "attempts__lt",
        "attribs__name",
        "pk__in",
    ],
    "failedjob": [*COMMON_KEYS, "type", "queue", "jobman__id__exact", "failed_at__gte"],
    "jobbatch": [*COMMON_KEYS, "state", "total__gt", "name"],
    "jobschedule": [*COMMON_KEYS, "name", "name__exact", "paused_at__isnull", "missed__gt"],
}
ACTIONS = {
    "jobman": ["retry_action", "requeue_action", "cancel_action", "delete_selected", "nothing"],
    "failedjob": ["retry_action", "forget_action", "delete_selected", ""],
    "jobbatch": ["cancel_batch_action", "delete_selected", "x" * 300],
    "jobschedule": ["pause_action", "resume_action", "delete_selected", ""],
}


def query(pairs: list[tuple[str, str | bytes]]) -> str:
    return "&".join(
        quote_from_bytes(key.encode("utf-8", "surrogatepass"))
        + "="
        + quote_from_bytes(
            value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        )
        for key, value in pairs
    )


def pairs_for(model: str) -> st.SearchStrategy[list[tuple[str, str | bytes]]]:
    key = st.sampled_from(KEYS[model]) | st.sampled_from(KEYS[model]) | st.text(max_size=12)
    return st.lists(st.tuples(key, VALUES | RAW), max_size=4)


NIGHTLY = {"type": "test.hello", "cron": "0 3 * * *"}

OBJECT_IDS = st.sampled_from(
    ["1", "0", "-1", "abc", "1_0", "\u0661", "\u00b2", "9223372036854775808", "9" * 40, "%00"]
)


@pytest.fixture
def superuser(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def rows() -> Iterator[dict[str, list[int]]]:
    """A row in every state, failed jobs, batches and a schedule, for the pages to show."""
    batch = JobBatch.objects.create(name="nightly", total=2, pending=1, failed=1)
    jobs = [make_row(status) for status in JobStatus.values]
    jobs.append(make_row(JobStatus.QUEUED, batch=batch, chain_id=uuid.UUID(int=1)))
    state = JobSchedule.objects.create(name="nightly", missed=2, last_missed=batch.created_at)
    jobs.append(make_row(schedule="nightly", scheduled_for=batch.created_at))
    failed = [make_failed(), make_failed()]
    with override_settings(JOBMAN={"SCHEDULES": {"nightly": NIGHTLY}}):
        yield {
            "jobman": [row.pk for row in jobs],
            "failedjob": [failure.pk for failure in failed],
            "jobbatch": [batch.pk],
            "jobschedule": [state.pk],
        }


def snapshot() -> tuple[Any, ...]:
    return (
        tuple(Jobman.objects.order_by("pk").values_list("pk", "status", "attempts", "pushed_at")),
        tuple(FailedJob.objects.order_by("pk").values_list("pk")),
        tuple(JobBatch.objects.order_by("pk").values_list("pk", "cancelled_at")),
        tuple(JobSchedule.objects.order_by("pk").values_list("pk", "paused_at")),
    )


def answer(send: Any, *args: Any) -> Any:
    """A request's response; in a savepoint, so that on PostgreSQL a failed query does not
    leave the test's transaction aborted and the next example can shrink the failure."""
    with transaction.atomic():
        return send(*args)


def assert_answered(response: Any, what: object) -> int:
    assert response.status_code < 500, (what, response.status_code)
    return int(response.status_code)


def is_id(text: str) -> bool:
    try:
        bounds.row_id(text)
    except ValueError:
        return False
    return True


def tally(seen: dict[str, int], status: int) -> None:
    kind = {2: "pages", 3: "redirects", 4: "refused"}[status // 100]
    seen[kind] += 1


@pytest.mark.parametrize("model", sorted(KEYS))
def test_changelists__hostile_query_strings_never_answer_5xx(
    model: str, superuser: Client, rows: dict[str, list[int]]
) -> None:
    url = reverse(f"admin:jobman_{model}_changelist")
    seen = {"pages": 0, "redirects": 0, "refused": 0}

    @HOSTILE
    @given(pairs=pairs_for(model))
    def check(pairs: list[tuple[str, str | bytes]]) -> None:
        response = answer(superuser.get, f"{url}?{query(pairs)}")
        tally(seen, assert_answered(response, pairs))

    check()
    record(f"hostile_admin_query[{model}]", faults="hypothesis-built query strings", **seen)


@pytest.mark.parametrize("model", sorted(KEYS))
def test_object_pages__hostile_ids_never_answer_5xx(
    model: str, superuser: Client, rows: dict[str, list[int]]
) -> None:
    seen = {"pages": 0, "redirects": 0, "refused": 0}
    known = st.sampled_from([str(pk) for pk in rows[model]])

    @HOSTILE
    @given(
        object_id=known
        | OBJECT_IDS
        | st.text(min_size=1, max_size=10).filter(lambda t: "/" not in t),
        page=st.sampled_from(["change", "history", "delete"]),
        pairs=pairs_for(model),
    )
    def check(object_id: str, page: str, pairs: list[tuple[str, str | bytes]]) -> None:
        base = reverse(f"admin:jobman_{model}_changelist")
        path = quote_from_bytes(object_id.encode("utf-8", "surrogatepass"), safe="")
        response = answer(superuser.get, f"{base}{path}/{page}/?{query(pairs)}")
        tally(seen, assert_answered(response, (object_id, page, pairs)))

    check()
    record(f"hostile_admin_object[{model}]", faults="hypothesis-built object urls", **seen)


@pytest.mark.parametrize("model", sorted(KEYS))
def test_actions__hostile_posts_never_answer_5xx(
    model: str, superuser: Client, rows: dict[str, list[int]]
) -> None:
    url = reverse(f"admin:jobman_{model}_changelist")
    seen = {"pages": 0, "redirects": 0, "refused": 0, "changed": 0}
    known = [str(pk) for pk in rows[model]]
    selected = st.sampled_from(known) | st.sampled_from(NUMBERS) | st.sampled_from(WORDS)

    @HOSTILE
    @given(
        action=st.sampled_from(ACTIONS[model]) | st.text(max_size=10),
        ids=st.lists(selected, max_size=4),
        across=st.sampled_from(["", "0", "1", "9" * 30, "\x00"]),
        index=st.sampled_from(["0", "1", "-1", "9" * 30, "x"]),
        back=st.sampled_from(["", "/", "//evil.example/", "\x00", "javascript:alert(1)"]),
        pairs=pairs_for(model),
    )
    def check(
        action: str,
        ids: list[str],
        across: str,
        index: str,
        back: str,
        pairs: list[tuple[str, str | bytes]],
    ) -> None:
        before = snapshot()
        data = {
            "action": action,
            "_selected_action": ids,
            "select_across": across,
            "index": index,
            jobman_admin.NEXT_FIELD: back,
        }
        response = answer(superuser.post, f"{url}?{query(pairs)}", data)
        tally(seen, assert_answered(response, (action, ids, across, pairs)))
        if not all(is_id(pk) for pk in ids):
            assert snapshot() == before, "a selection with a bad id changes nothing"
        if snapshot() != before:
            seen["changed"] += 1

    check()
    record(f"hostile_admin_actions[{model}]", faults="hypothesis-built action posts", **seen)


def test_dashboard__hostile_query_strings_never_answer_5xx(
    superuser: Client, rows: dict[str, list[int]]
) -> None:
    seen = {"pages": 0, "redirects": 0, "refused": 0}

    @HOSTILE
    @given(
        name=st.sampled_from(["jobman_dashboard", "jobman_dashboard_json"]),
        pairs=pairs_for("jobman"),
    )
    def check(name: str, pairs: list[tuple[str, str | bytes]]) -> None:
        response = answer(superuser.get, f"{reverse(f'admin:{name}')}?{query(pairs)}")
        tally(seen, assert_answered(response, (name, pairs)))

    check()
    record("hostile_admin_dashboard", faults="hypothesis-built query strings", **seen)
