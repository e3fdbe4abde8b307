"""Fire periodic jobs: every due slot of every schedule, once across all schedulers."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from jobman import schedules
from jobman.management import arguments
from jobman.management.base import JobmanCommand, when
from jobman.models import Jobman, JobSchedule


class Command(JobmanCommand):
    help = (
        "Fire the due slots of every schedule (job classes' `schedule`, JOBMAN['SCHEDULES'])\n"
        "as rows dispatched like any job; run it as a process next to the workers. Any number\n"
        "may run: each slot is fired once. --once fires what is due and exits; --list shows\n"
        "each schedule, its next slot and its last run."
    )
    examples = (
        "manage.py jobman_schedule",
        "manage.py jobman_schedule --once",
        "manage.py jobman_schedule --list",
    )

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.flag(parser, "--once", "Fire what is due now, then exit.")
        arguments.flag(parser, "--list", "List the schedules and exit.", dest="list_them")

    def handle(
        self, *args: Any, once: bool, list_them: bool, verbosity: int, **options: Any
    ) -> None:
        if list_them:
            self._list()
            return
        if once:
            for fired in schedules.fire_due():
                self._say(fired, verbosity)
            return
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
        schedules.Scheduler().run(stop, lambda fired: self._say(fired, verbosity))

    def _say(self, fired: schedules.Fired, verbosity: int) -> None:
        if not verbosity:
            return
        for row in fired.runs:
            for_slot = row.scheduled_for.isoformat() if row.scheduled_for else "-"
            self.stdout.write(f"Fired schedule {fired.schedule} for {for_slot}: jobman #{row.pk}.")
        if fired.missed:
            self.stdout.write(
                f"Schedule {fired.schedule} missed {len(fired.missed)} slot(s), the last "
                f"{fired.missed[-1].isoformat()}."
            )
        for slot in fired.skipped:
            self.stdout.write(
                f"Schedule {fired.schedule} skipped {slot.isoformat()}: "
                "its previous run has not finished."
            )

    def _list(self) -> None:
        configured = schedules.configured()
        if not configured:
            self.stdout.write("No schedules.")
            return
        zone, now = schedules.time_zone(), timezone.now()
        names = [schedule.name for schedule in configured]
        states = {state.name: state for state in JobSchedule.objects.filter(name__in=names)}
        for schedule in configured:
            wrong = schedules.problems(schedule)
            if wrong:
                self.stdout.write(f"{schedule.name}: {schedule.cron!r}, not fired: {wrong[0]}")
                continue
            last = (
                Jobman.objects.filter(schedule=schedule.name)
                .order_by("-scheduled_for")
                .values_list("pk", "scheduled_for", "status")
                .first()
            )
            state = states.get(schedule.name)
            paused = state is not None and state.paused_at is not None
            upcoming = "paused" if paused else when(schedules.next_slot(schedule.cron, zone, now))
            ran = f"jobman #{last[0]} for {when(last[1])}, {last[2]}" if last else "none yet"
            missed = state.missed if state is not None else 0
            self.stdout.write(
                f"{schedule.name}: {schedule.cron!r} ({schedule.job_type}), next {upcoming}; "
                f"last run {ran}; missed {missed}."
            )
