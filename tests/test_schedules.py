"""Periodic jobs: slots in a time zone, firing each slot once, catch-up after a gap,
overlap, pause, bad configuration, and schedulers as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.test.utils import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobman import schedules, signals
from jobman.models import Jobman, JobSchedule, JobStatus
from jobman.testing import capture_dispatches
from tests.faults.support import alive, descendants
from tests.support.helpers import ROOT, run_command, start_worker, stop_worker, wait_for
from tests.testapp.jobs import HelloJob

pytestmark = pytest.mark.django_db(transaction=True)

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def with_schedules(**specs: dict[str, Any]) -> Any:
    return override_settings(JOBMAN={"SCHEDULES": specs, "SCHEDULE_TIME_ZONE": "Europe/Paris"})


HOURLY = {"type": "test.hello", "cron": "0 * * * *", "attribs": {"name": "hourly"}}


def runs(name: str) -> list[tuple[datetime, dict[str, Any]]]:
    rows = Jobman.objects.filter(schedule=name).order_by("scheduled_for")
    return [(row.scheduled_for, row.attribs) for row in rows]


# Slots


def test_slots__in_the_schedule_time_zone() -> None:
    found = list(
        schedules.slots("0 3 * * *", PARIS, at("2026-06-01T00:00Z"), at("2026-06-03T00:00Z"))
    )
    assert found == [at("2026-06-01T03:00+02:00"), at("2026-06-02T03:00+02:00")]


def test_slots__a_local_time_the_clock_skips_runs_when_it_skips_it() -> None:
    # 2026-03-29: Paris goes from 02:00 CET straight to 03:00 CEST (01:00 UTC).
    found = list(
        schedules.slots("30 2 * * *", PARIS, at("2026-03-28T12:00Z"), at("2026-03-30T12:00Z"))
    )
    assert found == [at("2026-03-29T01:00Z"), at("2026-03-30T02:30+02:00")]


def test_slots__a_local_time_that_happens_twice_runs_once_the_first_time() -> None:
    # 2026-10-25: Paris goes back from 03:00 CEST to 02:00 CET; 02:30 happens twice.
    found = list(
        schedules.slots("30 2 * * *", PARIS, at("2026-10-24T12:00Z"), at("2026-10-25T12:00Z"))
    )
    assert found == [at("2026-10-25T02:30+02:00")]


def test_slots__a_sixth_field_is_seconds() -> None:
    found = list(
        schedules.slots("* * * * * */20", PARIS, at("2026-06-01T00:00Z"), at("2026-06-01T00:01Z"))
    )
    assert [slot.second for slot in found] == [20, 40, 0]


def test_slots_back__newest_first_and_only_as_far_as_asked() -> None:
    back = schedules.slots_back(
        "* * * * * *", PARIS, at("2000-01-01T00:00Z"), at("2026-06-01T00:00Z")
    )
    assert [next(back), next(back)] == [at("2026-06-01T00:00:00Z"), at("2026-05-31T23:59:59Z")]


# Firing


def test_fire__one_run_for_the_slot_due_then_nothing_until_the_next() -> None:
    with with_schedules(hourly=HOURLY), capture_dispatches():
        schedules.fire_due(at("2026-06-01T10:00:30+02:00"))
        schedules.fire_due(at("2026-06-01T10:00:40+02:00"))  # the same slot: nothing new
        schedules.fire_due(at("2026-06-01T10:59:59+02:00"))
        schedules.fire_due(at("2026-06-01T11:00:05+02:00"))

    assert runs("hourly") == [
        (at("2026-06-01T10:00+02:00"), {"name": "hourly"}),
        (at("2026-06-01T11:00+02:00"), {"name": "hourly"}),
    ]
    row = Jobman.objects.filter(schedule="hourly").first()
    assert row is not None
    assert (row.type, row.queue) == ("test.hello", "default")


def test_fire__a_state_set_back_still_fires_no_slot_twice() -> None:
    """Should the state row ever lag behind the runs (restored from a backup, say), the
    index on (schedule, scheduled_for) keeps each slot to one run."""
    now = at("2026-06-01T10:00:10+02:00")
    with with_schedules(hourly=HOURLY), capture_dispatches():
        schedules.fire_due(now - timedelta(hours=1))
        stale = JobSchedule.objects.get(name="hourly").fired_through
        first = schedules.fire_due(now)
        JobSchedule.objects.filter(name="hourly").update(fired_through=stale)
        again = schedules.fire_due(now)

    assert [len(fired.runs) for fired in first] == [1]
    assert again == []
    assert len(runs("hourly")) == 2


def test_fire__the_slot_index_refuses_a_second_run() -> None:
    slot = at("2026-06-01T10:00+02:00")
    with capture_dispatches():
        HelloJob.dispatch_scheduled({}, None, "hourly", slot)
        with pytest.raises(IntegrityError), transaction.atomic():
            HelloJob.dispatch_scheduled({}, None, "hourly", slot)
    assert len(runs("hourly")) == 1


@pytest.mark.parametrize(
    ("catch_up", "fired", "missed"),
    [("latest", ["13:00"], 3), ("all", ["10:00", "11:00", "12:00", "13:00"], 0), ("none", [], 4)],
)
def test_fire__after_a_gap_catch_up_says_what_runs(
    catch_up: str, fired: list[str], missed: int
) -> None:
    seen: list[datetime] = []

    def receiver(sender: Any, schedule: str, slot: datetime, **kwargs: Any) -> None:
        seen.append(slot)

    signals.schedule_missed.connect(receiver)
    try:
        with with_schedules(hourly={**HOURLY, "catch_up": catch_up}), capture_dispatches():
            schedules.fire_due(at("2026-06-01T09:00:10+02:00"))
            # No scheduler runs from 09:00 to 13:30.
            schedules.fire_due(at("2026-06-01T13:30:00+02:00"))
    finally:
        signals.schedule_missed.disconnect(receiver)

    later = [slot.astimezone(PARIS).strftime("%H:%M") for slot, _ in runs("hourly")][1:]
    assert later == fired
    state = JobSchedule.objects.get(name="hourly")
    assert (state.missed, len(seen)) == (missed, missed)
    assert state.fired_through == at("2026-06-01T13:00+02:00")


def test_fire__without_overlap_a_slot_is_skipped_while_the_last_run_waits() -> None:
    with with_schedules(hourly={**HOURLY, "overlap": False}), capture_dispatches():
        schedules.fire_due(at("2026-06-01T10:00:05+02:00"))
        skipped = schedules.fire_due(at("2026-06-01T11:00:05+02:00"))  # 10:00's still waits
        Jobman.objects.filter(schedule="hourly").update(status=JobStatus.COMPLETED)
        schedules.fire_due(at("2026-06-01T12:00:05+02:00"))

    hours = [slot.astimezone(PARIS).hour for slot, _ in runs("hourly")]
    assert hours == [10, 12]
    assert [f.skipped for f in skipped] == [[at("2026-06-01T11:00+02:00")]]
    assert JobSchedule.objects.get(name="hourly").skipped == 1


def test_fire__a_paused_schedule_fires_nothing_and_counts_nothing_missed() -> None:
    with with_schedules(hourly=HOURLY), capture_dispatches():
        schedules.fire_due(at("2026-06-01T10:00:05+02:00"))
        JobSchedule.objects.filter(name="hourly").update(paused_at=at("2026-06-01T10:10Z"))
        schedules.fire_due(at("2026-06-01T13:00:05+02:00"))
        JobSchedule.objects.filter(name="hourly").update(paused_at=None)
        schedules.fire_due(at("2026-06-01T14:00:05+02:00"))

    assert [slot.astimezone(PARIS).hour for slot, _ in runs("hourly")] == [10, 14]
    assert JobSchedule.objects.get(name="hourly").missed == 0


def test_fire__a_pause_that_lands_while_a_scheduler_looks_fires_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unfinished = schedules._previous_run_unfinished

    def paused_meanwhile(schedule: schedules.Schedule) -> bool:
        # Between the scheduler's read of the state and its write: a person pauses.
        JobSchedule.objects.filter(name="hourly").update(paused_at=at("2026-06-01T10:59Z"))
        return unfinished(schedule)

    with with_schedules(hourly={**HOURLY, "overlap": False}), capture_dispatches():
        schedules.fire_due(at("2026-06-01T10:00:05+02:00"))
        Jobman.objects.update(status=JobStatus.COMPLETED)
        monkeypatch.setattr(schedules, "_previous_run_unfinished", paused_meanwhile)
        assert schedules.fire_due(at("2026-06-01T11:00:05+02:00")) == []
        monkeypatch.setattr(schedules, "_previous_run_unfinished", unfinished)
        assert schedules.fire_due(at("2026-06-01T11:00:06+02:00")) == []  # paused now

    assert [slot.astimezone(PARIS).hour for slot, _ in runs("hourly")] == [10]


def test_summaries__a_name_the_database_cannot_hold_is_named_not_raised() -> None:
    from jobman.dashboard import readmodel

    with with_schedules(**{"bad\x00name": HOURLY, "hourly": HOURLY}):
        by_name = {summary.schedule.name: summary for summary in schedules.summaries()}
        report = readmodel.status()
    assert any("without NUL" in problem for problem in by_name["bad\x00name"].problems)
    assert by_name["bad\x00name"].last_runs == []
    assert by_name["hourly"].problems == []
    assert report.schedules == 2


def test_fire__a_rolled_back_firing_is_fired_again() -> None:
    now = at("2026-06-01T10:00:05+02:00")
    with with_schedules(hourly=HOURLY), capture_dispatches():
        schedules.fire_due(now - timedelta(hours=1))
        with transaction.atomic():
            assert schedules.fire_due(now)
            transaction.set_rollback(True)  # the caller's transaction fails
        assert len(runs("hourly")) == 1
        schedules.fire_due(now)
    assert len(runs("hourly")) == 2


def test_fire__a_long_gap_with_a_per_second_schedule_is_bounded() -> None:
    with with_schedules(fast={**HOURLY, "cron": "* * * * * *"}), capture_dispatches():
        schedules.fire_due(at("2026-06-01T00:00:00Z"))
        started = time.monotonic()
        (fired,) = schedules.fire_due(at("2027-06-01T00:00:00Z"))  # a year of slots later
        took = time.monotonic() - started
    state = JobSchedule.objects.get(name="fast")
    # The newest 10,000 slots were looked at: those of the last minute (on time) and the
    # newest late one ran, the rest are counted missed.
    assert len(fired.runs) == 60 + 1 + 1
    assert state.missed == schedules.MISSED_COUNT_LIMIT - len(fired.runs)
    assert state.fired_through == at("2027-06-01T00:00:00Z")
    assert took < 30  # walked back only as far as the count goes


# Configuration


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({**HOURLY, "cron": "61 * * * *"}, "'61 * * * *' is not a cron expression"),
        ({**HOURLY, "cron": "\x00"}, "is not a cron expression"),
        ({**HOURLY, "cron": None}, "is not a cron expression"),
        ({**HOURLY, "cron": "0 0 30 2 *"}, "'0 0 30 2 *' never comes"),
        ({**HOURLY, "type": "nope"}, "no job class is registered with type 'nope'"),
        ({**HOURLY, "queue": "nowhere"}, "Queue 'nowhere' is not in settings.RQ_QUEUES"),
        ({**HOURLY, "catch_up": "some"}, "catch_up must be one of latest, all, none"),
        ({**HOURLY, "overlap": "no"}, "overlap must be True or False"),
        ({**HOURLY, "attribs": ["a"]}, "attribs must be a dict"),
        ({**HOURLY, "attribs": {"x": float("nan")}}, "attribs:"),
    ],
)
def test_problems__bad_schedules_are_named_and_not_fired(
    spec: dict[str, Any], problem: str
) -> None:
    with with_schedules(bad=spec), capture_dispatches():
        (schedule,) = schedules.configured()
        assert any(problem in found for found in schedules.problems(schedule))
        assert schedules.fire_due(at("2026-06-01T10:00:05+02:00")) == []
    assert not Jobman.objects.exists()


def test_list__each_schedule_its_next_slot_and_last_run() -> None:
    with with_schedules(hourly=HOURLY, bad={**HOURLY, "type": "nope"}), capture_dispatches():
        schedules.fire_due(at("2026-06-01T10:00:05+02:00"))
        result = run_command("jobman_schedule", "--list")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("bad: '0 * * * *', not fired: schedule 'bad': no job class")
    assert lines[1].startswith("hourly: '0 * * * *' (test.hello), next ")
    assert "last run jobman #" in lines[1]
    assert lines[1].endswith("missed 0.")


# Real schedulers


def start_scheduler(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "django", "jobman_schedule", "--settings", "tests.settings"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )


@pytest.mark.worker
def test_schedulers__three_processes_one_run_per_slot_and_one_killed_loses_nothing() -> None:
    """Three `jobman_schedule` processes fire a schedule of one slot every second; one is
    SIGKILLed midway. Each slot between the first run and the last has exactly one."""
    spec = {"type": "test.hello", "cron": "* * * * * *", "catch_up": "all"}
    env = {"JOBMAN_TEST_JOBMAN": json.dumps({"SCHEDULES": {"every-second": spec}})}
    processes = [start_scheduler(env) for _ in range(3)]
    try:
        wait_for(lambda: Jobman.objects.filter(schedule="every-second").count() >= 3, timeout=30)
        processes[0].kill()
        counted = Jobman.objects.filter(schedule="every-second").count()
        wait_for(
            lambda: Jobman.objects.filter(schedule="every-second").count() >= counted + 3,
            timeout=30,
        )
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=20)[0] for process in processes]

    slots = list(
        Jobman.objects.filter(schedule="every-second")
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)
    )
    assert len(slots) == len(set(slots))
    gaps = [b - a for a, b in pairwise(slots)]
    assert set(gaps) == {timedelta(seconds=1)}, outputs
    assert [p.returncode for p in processes[1:]] == [0, 0], outputs
    assert all("Traceback" not in out for out in outputs)


def test_check__names_each_bad_schedule_under_its_id() -> None:
    from django.core import checks

    with with_schedules(hourly=HOURLY, bad={**HOURLY, "cron": "every day"}):
        found = [
            (error.id, error.msg) for error in checks.run_checks() if error.id == "jobman.E030"
        ]
    assert found == [
        ("jobman.E030", "schedule 'bad': 'every day' is not a cron expression (5 or 6 fields).")
    ]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "\x00", 3, "../../etc/passwd"])
def test_a_time_zone_that_does_not_exist_is_named_and_nothing_fires(zone: object) -> None:
    with override_settings(JOBMAN={"SCHEDULES": {"hourly": HOURLY}, "SCHEDULE_TIME_ZONE": zone}):
        from jobman import conf

        assert any("SCHEDULE_TIME_ZONE" in problem for problem in conf.problems())
        assert schedules.fire_due(at("2026-06-01T10:00:05+02:00")) == []
    assert not Jobman.objects.exists()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cron=st.text(max_size=40)
    | st.lists(
        st.sampled_from(["*", "*/7", "0", "59", "1-5", "L", "?", "#2", "99"]),
        min_size=4,
        max_size=7,
    ).map(" ".join)
)
def test_any_cron_text_is_refused_by_name_or_gives_slots(cron: str) -> None:
    schedule = schedules.Schedule("any", "test.hello", cron)
    if not schedules.problems(schedule):
        start = at("2026-06-01T00:00Z")
        assert schedules.next_slot(cron, PARIS, start) > start


@pytest.mark.worker
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_worker__fires_schedules_and_runs_them_and_its_scheduler_ends_with_it(
    worker_class: str,
) -> None:
    spec = {"type": "test.hello", "cron": "* * * * * *"}
    env = {"JOBMAN_TEST_JOBMAN": json.dumps({"SCHEDULES": {"every-second": spec}})}
    worker = start_worker("--worker-class", worker_class, env=env)
    try:
        wait_for(
            lambda: (
                Jobman.objects.filter(schedule="every-second", status=JobStatus.COMPLETED).count()
                >= 2
            ),
            timeout=30,
        )
        below = descendants(worker.pid)
        assert below  # the scheduler (and perhaps a work-horse)
    finally:
        output = stop_worker(worker)
    time.sleep(0.5)
    assert [pid for pid in below if alive(pid)] == [], output
    assert "Traceback" not in output


@pytest.mark.worker
def test_worker__without_scheduler_fires_nothing() -> None:
    spec = {"type": "test.hello", "cron": "* * * * * *"}
    env = {"JOBMAN_TEST_JOBMAN": json.dumps({"SCHEDULES": {"every-second": spec}})}
    worker = start_worker("--without-scheduler", "--worker-class", "simple", env=env)
    try:
        time.sleep(3)
    finally:
        output = stop_worker(worker)
    assert not Jobman.objects.exists(), output


@pytest.mark.worker
def test_schedulers__a_restart_after_a_gap_follows_catch_up() -> None:
    """A scheduler stops for a few seconds of a per-second schedule and starts again: with
    catch_up "latest", only the newest slot runs, and every slot of the gap without a run
    is counted missed."""
    spec = {"type": "test.hello", "cron": "* * * * * *", "catch_up": "latest"}
    env = {
        "JOBMAN_TEST_JOBMAN": json.dumps({"SCHEDULES": {"every-second": spec}, "SCHEDULE_GRACE": 1})
    }
    rows = Jobman.objects.filter(schedule="every-second")
    first = start_scheduler(env)
    try:
        wait_for(lambda: rows.count() >= 2, timeout=30)
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)
    before = rows.count()
    time.sleep(5)
    second = start_scheduler(env)
    try:
        wait_for(lambda: rows.count() >= before + 2, timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        out, _ = second.communicate(timeout=20)

    slots = list(rows.order_by("scheduled_for").values_list("scheduled_for", flat=True))
    span = int((slots[-1] - slots[0]).total_seconds()) + 1
    state = JobSchedule.objects.get(name="every-second")
    assert state.missed >= 2, out  # the gap
    assert len(slots) + state.missed == span  # each slot ran or is counted missed


def test_fire__an_hourly_schedule_over_the_night_the_clocks_go_back() -> None:
    """Paris, 2026-10-25: the hour from 02:00 happens twice. An hourly schedule runs at
    01:00, 02:00 (the first time the clock shows it) and 03:00: once a wall time."""
    with with_schedules(hourly=HOURLY), capture_dispatches():
        moment = at("2026-10-24T23:00:05Z")  # 01:00:05 CEST
        while moment < at("2026-10-25T03:00:00Z"):
            schedules.fire_due(moment)
            moment += timedelta(minutes=30)
    local = [slot.astimezone(PARIS).strftime("%H:%M%z") for slot, _ in runs("hourly")]
    assert local == ["01:00+0200", "02:00+0200", "03:00+0100"]
    assert JobSchedule.objects.get(name="hourly").missed == 0


def test_fire__an_hourly_schedule_over_the_night_the_clocks_go_forward() -> None:
    """Paris, 2026-03-29: 02:30 never shows; that slot runs when the clock skips it, at
    03:00 CEST."""
    with with_schedules(half_past={**HOURLY, "cron": "30 * * * *"}), capture_dispatches():
        moment = at("2026-03-28T23:40:00Z")  # 00:40 CET
        while moment < at("2026-03-29T03:00:00Z"):
            schedules.fire_due(moment)
            moment += timedelta(minutes=20)
    local = [slot.astimezone(PARIS).strftime("%H:%M%z") for slot, _ in runs("half_past")]
    assert local == ["01:30+0100", "03:00+0200", "03:30+0200", "04:30+0200"]


def test_testing_fire_schedules__runs_dispatched_for_a_given_time() -> None:
    from jobman.testing import fire_schedules

    with with_schedules(hourly=HOURLY), capture_dispatches() as captured:
        fired = fire_schedules(at("2026-06-01T10:00:05+02:00"))
        captured.assert_dispatched(HelloJob, count=1, attribs={"name": "hourly"})
    assert [row.scheduled_for for row in fired] == [at("2026-06-01T10:00+02:00")]


def test_status__counts_schedules_and_their_missed_runs() -> None:
    with with_schedules(hourly=HOURLY), capture_dispatches():
        schedules.fire_due(at("2026-06-01T09:00:05+02:00"))
        schedules.fire_due(at("2026-06-01T13:30:00+02:00"))  # 10, 11 and 12 missed
        summary = run_command("jobman_status", "-v", "0")
        full = run_command("jobman_status")
        as_json = json.loads(run_command("jobman_status", "--json").out)
    assert summary.out.rstrip().endswith(", 3 missed runs.")
    assert "Schedules: 1, missed runs 3 (jobman_schedule --list)" in full.out
    assert (as_json["schedules"], as_json["missed_runs"]) == (1, 3)
