"""Show queues, workers and job counts."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser

from jobman.dashboard import readmodel
from jobman.management import arguments
from jobman.management.base import JobmanCommand, duration, plural
from jobman.models import JobStatus


class Command(JobmanCommand):
    help = (
        "Show, for each queue of RQ_QUEUES, the jobs waiting in Redis and how long the oldest\n"
        "has waited; the workers, what state they are in and what they run; and from the\n"
        "database, the jobs of each queue by status and how many failed in the last hour.\n"
        "When Redis cannot be reached it says so and still shows the database part."
    )
    examples = ("manage.py jobman_status", "manage.py jobman_status --json")

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.flag(parser, "--json", "Print the report as JSON.", dest="as_json")

    def handle(self, *args: Any, as_json: bool, verbosity: int, **options: Any) -> None:
        report = readmodel.status()
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, default=str))
        elif verbosity == 0:
            self.stdout.write(_summary(report))
        else:
            for line in _lines(report):
                self.stdout.write(line)


def _summary(report: readmodel.StatusReport) -> str:
    if report.redis_ok:
        waiting = sum(queue.waiting or 0 for queue in report.queues)
        redis = f"{waiting} waiting in Redis, {plural(len(report.workers), 'worker')}"
    else:
        redis = "Redis unreachable"
    missed = f", {plural(report.missed_runs, 'missed run')}" if report.schedules else ""
    return (
        f"{redis}, {report.jobs.get(JobStatus.RUNNING, 0)} running, "
        f"{report.failed_last_hour} failed in the last hour{missed}."
    )


def _lines(report: readmodel.StatusReport) -> list[str]:
    lines = ["Queues (Redis)"]
    width = max(len(queue.name) for queue in report.queues) if report.queues else 0
    for queue in report.queues:
        if queue.redis_error is not None:
            state = (
                queue.redis_error
                if queue.redis_error.startswith("not in")
                else f"Redis unreachable: {queue.redis_error}"
            )
        else:
            state = f"{queue.waiting} waiting, {queue.scheduled} scheduled"
            if queue.oldest_wait is not None:
                state += f", oldest waiting {duration(queue.oldest_wait)}"
            if queue.paused:
                state += ", PAUSED (jobman_resume)"
        lines.append(f"  {queue.name.ljust(width)}  {state}")

    lines.append("")
    if not report.redis_ok and not report.workers:
        lines.append("Workers: unknown (Redis unreachable)")
    else:
        lines.append(f"Workers ({len(report.workers)})")
        for worker in report.workers:
            running = f"  running {worker.current_job}" if worker.current_job else ""
            lines.append(f"  {worker.name}  {worker.state}  {', '.join(worker.queues)}{running}")

    lines.append("")
    lines.append("Jobs (database)")
    statuses = list(JobStatus.values)
    table = [["Queue", *statuses]]
    table += [
        [queue.name, *(str(queue.jobs.get(s, 0)) for s in statuses)] for queue in report.queues
    ]
    table.append(["total", *(str(report.jobs.get(s, 0)) for s in statuses)])
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    for row in table:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join(cells))
    lines.append("")
    lines.append(f"Failed in the last hour: {report.failed_last_hour}")
    if report.schedules:
        lines.append(
            f"Schedules: {report.schedules}, missed runs {report.missed_runs} "
            "(jobman_schedule --list)"
        )
    return lines
