"""Periodic jobs: schedules, their slots, and firing each slot exactly once.

A schedule names a job type, a cron expression (five fields, or six with seconds last)
read in ``JOBMAN["SCHEDULE_TIME_ZONE"]``, and the attribs of its runs. Each slot's run is
an ordinary row, with ``schedule`` and ``scheduled_for`` set, dispatched like any job.

Any number of schedulers may run: each moves a schedule's ``fired_through`` on with a
conditional UPDATE in the transaction that saves the runs, so exactly one of them fires a
slot, and one killed midway leaves the slot to the others. A unique index on (schedule,
scheduled_for) stands behind that.

Daylight saving time: a slot whose local time the clock skips (02:30 on the night it
jumps from 02:00 to 03:00) runs when the clock skips it; a local time that happens twice
(the night it goes back) runs once, the first time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter  # type: ignore[import-untyped]
from django.conf import settings
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from jobman import conf, registry, signals
from jobman.models import Jobman, JobSchedule, JobStatus

logger = logging.getLogger("jobman")

CATCH_UP = ("latest", "all", "none")
# The newest slots ``catch_up = "all"`` fires after a gap; older ones count as missed.
CATCH_UP_ALL_LIMIT = 100
# Slots counted as missed after a gap, at most, each time a schedule is fired.
MISSED_COUNT_LIMIT = 10_000
# Seconds between two looks of a scheduler: a slot is fired this late at most.
TICK = 1.0


@dataclass(frozen=True)
class Schedule:
    """A periodic job: its runs are rows of ``job_type``, one per slot of ``cron``."""

    name: str
    job_type: str
    cron: str
    attribs: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    # After a gap with no scheduler: fire the newest missed slot ("latest"), every one
    # up to CATCH_UP_ALL_LIMIT ("all"), or none of them ("none").
    catch_up: str = "latest"
    # False: skip a slot while the previous run still waits or runs.
    overlap: bool = True


@dataclass
class Fired:
    """What one look at a schedule did."""

    schedule: str
    runs: list[Jobman] = field(default_factory=list)
    missed: list[datetime] = field(default_factory=list)
    skipped: list[datetime] = field(default_factory=list)


def configured() -> list[Schedule]:
    """Every schedule: those job classes declare, and those of ``JOBMAN["SCHEDULES"]``."""
    found: dict[str, Schedule] = {}
    for job_type, job_class in registry.all_types().items():
        cron = job_class.__dict__.get("schedule")
        if cron:
            found[job_type] = Schedule(
                name=job_type,
                job_type=job_type,
                cron=cron,
                attribs=dict(job_class.schedule_attribs or {}),
                catch_up=job_class.schedule_catch_up,
                overlap=job_class.schedule_overlap,
            )
    for name, spec in conf.get("SCHEDULES").items():
        spec = spec if isinstance(spec, Mapping) else {}
        found[name] = Schedule(
            name=name,
            job_type=spec.get("type", ""),
            cron=spec.get("cron", ""),
            attribs=spec.get("attribs") or {},
            queue=spec.get("queue"),
            catch_up=spec.get("catch_up", "latest"),
            overlap=spec.get("overlap", True),
        )
    return [found[name] for name in sorted(found)]


@dataclass(frozen=True)
class Run:
    """One run of a schedule, as its summary lists it."""

    jobman_id: int
    slot: datetime | None
    status: str


@dataclass(frozen=True)
class Summary:
    """What a person asks of a schedule: when next, how its last runs went, what it missed."""

    schedule: Schedule
    problems: list[str]
    next_slot: datetime | None  # None: paused, or wrong
    paused_at: datetime | None
    missed: int
    last_missed: datetime | None
    skipped: int
    last_runs: list[Run]  # newest first


def storable_name(name: str) -> bool:
    """Whether the database can hold and be asked for ``name``: PostgreSQL refuses NUL."""
    return 0 < len(name) <= 255 and "\x00" not in name


def summaries(now: datetime | None = None, runs: int = 5) -> list[Summary]:
    """A summary of every configured schedule, with its ``runs`` newest runs."""
    now = now or timezone.now()
    configured_now = configured()
    names = [schedule.name for schedule in configured_now if storable_name(schedule.name)]
    states = {state.name: state for state in JobSchedule.objects.filter(name__in=names)}
    found = []
    zone = None if conf.problems() else time_zone()
    for schedule in configured_now:
        wrong = problems(schedule)
        state = states.get(schedule.name)
        paused_at = state.paused_at if state is not None else None
        upcoming = None
        if not wrong and paused_at is None and zone is not None:
            upcoming = next_slot(schedule.cron, zone, now)
        newest = (
            Jobman.objects.filter(schedule=schedule.name)
            .order_by("-scheduled_for")
            .values_list("pk", "scheduled_for", "status")[:runs]
            if storable_name(schedule.name)
            else []
        )
        found.append(
            Summary(
                schedule=schedule,
                problems=wrong,
                next_slot=upcoming,
                paused_at=paused_at,
                missed=state.missed if state is not None else 0,
                last_missed=state.last_missed if state is not None else None,
                skipped=state.skipped if state is not None else 0,
                last_runs=[Run(pk, slot, status) for pk, slot, status in newest],
            )
        )
    return found


def ensure_states() -> None:
    """Give every configured schedule its state row, so that it can be paused before any
    scheduler has seen it."""
    grace = timedelta(seconds=conf.get("SCHEDULE_GRACE"))
    for schedule in configured():
        if not problems(schedule):
            JobSchedule.objects.get_or_create(
                name=schedule.name, defaults={"fired_through": timezone.now() - grace}
            )


def time_zone() -> ZoneInfo:
    return ZoneInfo(conf.get("SCHEDULE_TIME_ZONE") or settings.TIME_ZONE or "UTC")


def problems(schedule: Schedule) -> list[str]:
    """What is wrong with ``schedule``, each naming it; empty when nothing is."""
    from jobman import options, queues
    from jobman.jsonsafe import ensure_json

    what = f"schedule {schedule.name!r}"
    found = []
    if not storable_name(schedule.name):
        found.append(f"{what}: a name must be 1 to 255 characters, without NUL.")
    if not isinstance(schedule.cron, str) or not croniter.is_valid(schedule.cron):
        found.append(f"{what}: {schedule.cron!r} is not a cron expression (5 or 6 fields).")
    elif not _has_slots(schedule.cron):
        found.append(f"{what}: {schedule.cron!r} never comes (such as the 30th of February).")
    job_class = registry.find(schedule.job_type) if isinstance(schedule.job_type, str) else None
    if job_class is None:
        found.append(f"{what}: no job class is registered with type {schedule.job_type!r}.")
    elif options.problems(job_class):
        found.append(f"{what}: its job class {schedule.job_type!r} has option problems.")
    if schedule.queue is not None and schedule.queue not in queues.configured_queues():
        found.append(f"{what}: {queues.unknown_queue_error(str(schedule.queue))}")
    if schedule.catch_up not in CATCH_UP:
        found.append(f"{what}: catch_up must be one of {', '.join(CATCH_UP)}.")
    if not isinstance(schedule.overlap, bool):
        found.append(f"{what}: overlap must be True or False.")
    if not isinstance(schedule.attribs, Mapping):
        found.append(f"{what}: attribs must be a dict.")
    else:
        try:
            ensure_json(dict(schedule.attribs), max_bytes=conf.get("MAX_ATTRIBS_BYTES"))
        except (TypeError, ValueError) as error:
            found.append(f"{what}: attribs: {error}")
    return found


def _has_slots(cron: str) -> bool:
    try:
        next_slot(cron, ZoneInfo("UTC"), datetime(2000, 1, 1, tzinfo=UTC))
    except CroniterBadDateError:
        return False
    return True


def slots(cron: str, zone: ZoneInfo, after: datetime, until: datetime) -> Iterator[datetime]:
    """The slots of ``cron`` in ``(after, until]``, oldest first, as aware UTC times."""
    local = after.astimezone(zone).replace(tzinfo=None)
    times = croniter(cron, local)
    while True:
        slot = _instant(times.get_next(datetime), zone)
        if slot > until:
            return
        if slot > after:
            yield slot


def slots_back(cron: str, zone: ZoneInfo, after: datetime, until: datetime) -> Iterator[datetime]:
    """The slots of ``cron`` in ``(after, until]``, newest first: a long gap is walked
    only as far as it is needed."""
    local = until.astimezone(zone).replace(tzinfo=None) + timedelta(microseconds=1)
    times = croniter(cron, local)
    while True:
        slot = _instant(times.get_prev(datetime), zone)
        if slot <= after:
            return
        if slot <= until:
            yield slot


def next_slot(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    local = after.astimezone(zone).replace(tzinfo=None)
    times = croniter(cron, local)
    while True:
        slot = _instant(times.get_next(datetime), zone)
        if slot > after:
            return slot


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time ``wall``: its first occurrence when the clock
    shows it twice, the moment the clock skips it when it never shows it."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # Skipped: the clock jumps from before ``wall`` to after it; find that jump.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # shows a time before ``wall``
    high = first  # shows a time after it
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) < wall:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


class Scheduler:
    """Fires due slots, look after look; between two slots of a schedule it asks the
    database nothing about it."""

    def __init__(self) -> None:
        # Schedule name -> the earliest time something of it may be due.
        self._next: dict[str, datetime] = {}

    def tick(self, now: datetime | None = None) -> list[Fired]:
        """Fire every schedule's due slots, once each across all schedulers; return what
        was done. A schedule that cannot be fired now (bad configuration, a database
        error) is logged and left for the next look."""
        now = now or timezone.now()
        if conf.problems():
            logger.error("jobman: schedules not fired: settings.JOBMAN is wrong (manage.py check)")
            return []
        zone = time_zone()
        done = []
        for schedule in configured():
            if now < self._next.get(schedule.name, now) or problems(schedule):
                continue  # not due yet; or wrong, which `manage.py check` names
            try:
                fired = fire(schedule, now)
            except Exception:
                logger.exception(
                    "jobman: schedule %s could not be fired; trying again", schedule.name
                )
                continue
            self._next[schedule.name] = next_slot(schedule.cron, zone, now)
            if fired.runs or fired.missed or fired.skipped:
                done.append(fired)
        return done

    def run(self, stop: threading.Event, report: Callable[[Fired], None] | None = None) -> None:
        """Look every ``TICK`` seconds until ``stop`` is set; ``report`` what each look
        did (by default, log it)."""
        while not stop.is_set():
            for fired in self.tick():
                (report or _log)(fired)
            stop.wait(TICK)


def _log(fired: Fired) -> None:
    for row in fired.runs:
        logger.info("jobman: schedule %s fired jobman #%s", fired.schedule, row.pk)
    if fired.missed:
        logger.warning(
            "jobman: schedule %s missed %s slot(s), the last %s",
            fired.schedule,
            len(fired.missed),
            fired.missed[-1].isoformat(),
        )


def fire_due(now: datetime | None = None) -> list[Fired]:
    """Fire what is due at ``now``, once: see ``Scheduler.tick``."""
    return Scheduler().tick(now)


def fire(schedule: Schedule, now: datetime) -> Fired:
    """Fire ``schedule``'s slots due by ``now`` that no scheduler has handled yet."""
    fired = Fired(schedule.name)
    grace = timedelta(seconds=conf.get("SCHEDULE_GRACE"))
    state, new = JobSchedule.objects.get_or_create(
        name=schedule.name, defaults={"fired_through": now - grace}
    )
    if state.fired_through is not None and state.fired_through >= now:
        return fired
    after = state.fired_through or now - grace
    zone = time_zone()
    due = list(_newest(slots_back(schedule.cron, zone, after, now), MISSED_COUNT_LIMIT))
    if not due:
        return fired
    due.reverse()  # oldest first
    newest = due[-1]
    # Slots within the grace period are on time and always run; of the later ones,
    # catch_up says which run. A new schedule runs its newest slot only: the ones before
    # it existed are not missed. A paused one runs nothing, and misses nothing.
    on_time = [slot for slot in due if now - slot <= grace]
    late = [slot for slot in due if now - slot > grace]
    if state.paused_at is not None:
        chosen: list[datetime] = []
    elif new:
        chosen = [newest]
    elif schedule.catch_up == "all":
        chosen = late[-CATCH_UP_ALL_LIMIT:] + on_time
    elif schedule.catch_up == "none":
        chosen = on_time
    else:
        chosen = late[-1:] + on_time
    quiet = state.paused_at is not None or new
    missed = [] if quiet else [slot for slot in late if slot not in chosen]
    if chosen and not schedule.overlap and _previous_run_unfinished(schedule):
        fired.skipped, chosen = chosen, []
    job_class = registry.find(schedule.job_type)
    assert job_class is not None  # problems() checked it
    using = router.db_for_write(Jobman)
    try:
        with transaction.atomic(using=using):
            # As read: a pause (or resume) that landed since decides on the next look.
            moved = JobSchedule.objects.filter(
                pk=state.pk, fired_through=state.fired_through, paused_at=state.paused_at
            ).update(
                fired_through=newest,
                missed=state.missed + len(missed),
                last_missed=missed[-1] if missed else state.last_missed,
                skipped=state.skipped + len(fired.skipped),
            )
            if not moved:
                return Fired(schedule.name)  # another scheduler handled these slots
            fired.runs = [
                job_class.dispatch_scheduled(schedule.attribs, schedule.queue, schedule.name, slot)
                for slot in chosen
            ]
    except IntegrityError:
        return Fired(schedule.name)  # a run of one of these slots exists already
    fired.missed = missed
    for slot in missed:
        signals.schedule_missed.send(sender=job_class, schedule=schedule.name, slot=slot)
    for slot in fired.skipped:
        logger.info(
            "jobman: schedule %s skipped %s: its previous run has not finished",
            schedule.name,
            slot.isoformat(),
        )
    return fired


def _newest(slots: Iterator[datetime], limit: int) -> Iterator[datetime]:
    for count, slot in enumerate(slots):
        if count >= limit:
            return
        yield slot


def _previous_run_unfinished(schedule: Schedule) -> bool:
    unfinished = [*JobStatus.waiting(), JobStatus.RUNNING]
    return Jobman.objects.filter(schedule=schedule.name, status__in=unfinished).exists()
