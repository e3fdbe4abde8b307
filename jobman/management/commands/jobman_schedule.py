"""Fire periodic jobs: every due slot of every schedule, once across all schedulers."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import CommandParser

from jobman import schedules
from jobman.management import arguments
from jobman.management.base import JobmanCommand, when


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
        found = schedules.summaries(runs=1)
        if not found:
            self.stdout.write("No schedules.")
        for summary in found:
            schedule = summary.schedule
            if summary.problems:
                self.stdout.write(
                    f"{schedule.name}: {schedule.cron!r}, not fired: {summary.problems[0]}"
                )
                continue
            upcoming = "paused" if summary.paused_at else when(summary.next_slot)
            last = summary.last_runs[0] if summary.last_runs else None
            ran = (
                f"jobman #{last.jobman_id} for {when(last.slot)}, {last.status}"
                if last
                else "none yet"
            )
            self.stdout.write(
                f"{schedule.name}: {schedule.cron!r} ({schedule.job_type}), next {upcoming}; "
                f"last run {ran}; missed {summary.missed}."
            )
