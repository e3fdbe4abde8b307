"""Helpers for testing code that dispatches jobs, in your own test suite.

``capture_dispatches()`` keeps dispatched jobs out of Redis so a test can assert on them,
and ``run_pending()`` runs waiting jobs synchronously in the test's process, through the
same runner a worker uses; ``fire_schedules(at)`` fires the periodic jobs due at a given
time. With pytest, the ``jobman_fake`` fixture does the first.

    def test_signup_sends_welcome(jobman_fake):
        client.post("/signup/", {...})
        jobman_fake.assert_dispatched(WelcomeEmailJob, attribs={"user_id": 1})
        jobman_fake.run()                       # run them, here and now

Nothing here is imported by jobman itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobman.jobs import JobmanJob
    from jobman.models import Jobman


class CapturedDispatches:
    """The rows dispatched while capturing; they are saved but never reach Redis."""

    def __init__(self, rows: list[Jobman]) -> None:
        self.rows = rows

    def of(self, job_class: type[JobmanJob]) -> list[Jobman]:
        return [row for row in self.rows if row.type == job_class.type]

    def assert_dispatched(
        self,
        job_class: type[JobmanJob],
        *,
        count: int | None = None,
        attribs: dict[str, Any] | None = None,
        where: Callable[[Jobman], bool] | None = None,
    ) -> list[Jobman]:
        """Assert that ``job_class`` was dispatched (``count`` times, with these attribs)."""
        matching = [
            row
            for row in self.of(job_class)
            if (attribs is None or all(row.attribs.get(k) == v for k, v in attribs.items()))
            and (where is None or where(row))
        ]
        described = f"{job_class.__qualname__} (type {job_class.type!r})"
        if attribs is not None:
            described += f" with attribs {attribs!r}"
        if count is None:
            assert matching, f"{described} was not dispatched; dispatched: {self._summary()}"
        else:
            assert len(matching) == count, (
                f"{described} was dispatched {len(matching)} time(s), expected {count}; "
                f"dispatched: {self._summary()}"
            )
        return matching

    def assert_not_dispatched(self, job_class: type[JobmanJob]) -> None:
        found = self.of(job_class)
        assert not found, f"{job_class.__qualname__} was dispatched {len(found)} time(s)"

    def assert_nothing_dispatched(self) -> None:
        assert not self.rows, f"jobs were dispatched: {self._summary()}"

    def run(self) -> list[Jobman]:
        """Run the captured jobs (and their retries) now, in this process."""
        return run_pending(ids=[row.pk for row in self.rows])

    def _summary(self) -> str:
        return ", ".join(f"{row.type} #{row.pk} {row.attribs!r}" for row in self.rows) or "none"


@contextmanager
def capture_dispatches() -> Iterator[CapturedDispatches]:
    """Save dispatched rows as usual, but keep them out of Redis; yield them for asserts."""
    from jobman import queues

    rows: list[Jobman] = []

    def capture(pushed: Sequence[Jobman], recorded: bool) -> list[Jobman]:
        rows.extend(pushed)
        if recorded:  # saved queued before the capture began: they are in no queue
            queues.put_back(pushed)
        return []

    with queues.pushing_with(capture):
        yield CapturedDispatches(rows)


def run_pending(ids: list[int] | None = None, max_rounds: int = 100) -> list[Jobman]:
    """Run waiting jobs synchronously, ignoring delays and backoff, until none waits.

    Jobs dispatched by these jobs run too (within ``ids`` only when ``ids`` is given).
    A failing attempt does not raise here: read the rows. Returns the rows run, as they
    ended.
    """
    from jobman import runner
    from jobman.models import Jobman

    ran: dict[int, None] = {}
    for _ in range(max_rounds):
        waiting = Jobman.objects.waiting().order_by("pk")
        if ids is not None:
            waiting = waiting.filter(pk__in=ids)
        pks = list(waiting.values_list("pk", flat=True))
        if not pks:
            break
        Jobman.objects.filter(pk__in=pks).update(available_at=None)
        for pk in pks:
            ran[pk] = None
            with contextlib.suppress(Exception):  # the attempt's failure is on the row
                runner.run(pk)
    return list(Jobman.objects.filter(pk__in=ran).order_by("pk"))


def fire_schedules(at: datetime) -> list[Jobman]:
    """Fire the slots of every schedule due at ``at`` (an aware datetime) as a scheduler
    would then, without waiting for the clock; return the runs dispatched.

    The schedules' state moves on as it would: fire an earlier time first to have a
    later one see a gap (missed slots, catch_up).
    """
    from jobman import schedules

    return [row for fired in schedules.fire_due(at) for row in fired.runs]


try:
    import pytest
except ImportError:  # pytest is optional: the helpers above work without it
    pass
else:

    @pytest.fixture
    def jobman_fake() -> Iterator[CapturedDispatches]:
        """Capture dispatched jobs for the test; ``jobman_fake.run()`` runs them."""
        with capture_dispatches() as captured:
            yield captured
