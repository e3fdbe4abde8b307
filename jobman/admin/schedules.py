"""The admin of schedules (the ``job_schedules`` table): every configured schedule, when it
fires next, its last runs and what it missed, and the pause and resume actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from jobman import operations, schedules, words
from jobman.admin.base import ReadOnlyAdmin, done_lines, operation_action, outcome_lines
from jobman.admin.changelist import BoundedChangeList
from jobman.admin.display import (
    admin_url,
    empty,
    field,
    local_time,
    moment,
    pretty_json,
    render_field,
    status_badge,
)
from jobman.admin.filters import ScheduleFilter
from jobman.models import JobSchedule
from jobman.schedules import Summary

T = TypeVar("T")


def by_name(operation: Callable[[list[str]], T]) -> Callable[[list[int]], T]:
    """``operation`` on the schedules of the selected rows, by name."""

    def on_rows(ids: list[int]) -> T:
        found = JobSchedule.objects.filter(pk__in=ids).order_by("name")
        return operation(list(found.values_list("name", flat=True)))

    return on_rows


def change_lines(verb: str, result: operations.NamedResult[Any]) -> list[tuple[int, str]]:
    """``Paused 2 schedules: a, b``, then the skipped and those not configured."""
    lines = done_lines(f"{verb} {{}}", [entry.name for entry in result.done], "schedule")
    return lines + outcome_lines(result, "schedule", "Not configured: ")


def summary_of(row: JobSchedule) -> Summary | None:
    """The row's schedule as ``schedules.summaries`` sums it up, or None when no schedule
    has its name now; read once per row."""
    try:
        return row._jobman_summary  # type: ignore[attr-defined, no-any-return]
    except AttributeError:
        attach_summaries([row])
        return row._jobman_summary  # type: ignore[attr-defined, no-any-return]


def attach_summaries(rows: Iterable[JobSchedule]) -> None:
    """Give each row its summary, all of them read at once."""
    found = {summary.schedule.name: summary for summary in schedules.summaries()}
    for row in rows:
        row._jobman_summary = found.get(row.name)  # type: ignore[attr-defined]


class ScheduleChangeList(BoundedChangeList):
    """The changelist, whose rows' summaries are read once for the page."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        attach_summaries(self.result_list)  # the rows the page then shows, as read here


@admin.register(JobSchedule)
class JobScheduleAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "type_display",
        "cron_display",
        "next_display",
        "last_runs_display",
        "missed_display",
        "skipped",
    )
    list_display_links = ("name",)
    search_fields = ("name",)
    search_help_text = "Text found in the name."
    # A schedule is known by its name, not by its row's id.
    id_lookups = ()
    ordering = ("name",)
    sortable_by = ("name",)
    change_form_template = "admin/jobman/jobman/change_form.html"
    actions = ("pause_action", "resume_action")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "type_display",
                    "cron_display",
                    "next_display",
                    "settings_display",
                )
            },
        ),
        ("Attribs of its runs", {"fields": ("attribs_display",)}),
        (
            "Runs",
            {"fields": ("runs_display", "missed_display", "skipped", "fired_through_display")},
        ),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ScheduleChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Every configured schedule is listed: each gets its state row first. Those that
        cannot have one (they have problems) are named above the list, with their problems."""
        schedules.ensure_states()
        wrong = [
            {"name": schedule.name, "problems": found}
            for schedule in schedules.configured()
            if (found := schedules.problems(schedule))
        ]
        context = {**(extra_context or {}), "jobman_wrong_schedules": wrong}
        return super().changelist_view(request, context)

    def runs_url(self, row: JobSchedule) -> str | None:
        """The jobs list, filtered to the schedule's runs, if this site serves it."""
        query = urlencode({ScheduleFilter.parameter_name: row.name})
        return admin_url(self.admin_site, "jobman_jobman_changelist", query=f"?{query}")

    # Columns

    type_display = field(
        "type", lambda row: _configured(row, lambda summary: summary.schedule.job_type)
    )
    cron_display = field(
        "cron",
        lambda row: _configured(
            row, lambda summary: format_html("<code>{}</code>", summary.schedule.cron)
        ),
    )

    @admin.display(description="next slot")
    def next_display(self, row: JobSchedule) -> SafeString:
        summary = summary_of(row)
        if summary is None:
            return empty("not configured")
        upcoming = summary.next_slot
        return render_field(
            "schedule_next",
            problems=summary.problems,
            paused_at=moment(summary.paused_at) if summary.paused_at is not None else None,
            next_slot=moment(upcoming) if upcoming is not None else None,
            ahead=words.span((upcoming - timezone.now()).total_seconds()) if upcoming else None,
        )

    @admin.display(description="last runs")
    def last_runs_display(self, row: JobSchedule) -> SafeString:
        return self._runs(row, list_url=None)

    @admin.display(description="missed")
    def missed_display(self, row: JobSchedule) -> SafeString:
        last = row.last_missed
        return render_field(
            "schedule_missed", missed=row.missed, last=moment(last) if last is not None else None
        )

    # The change page

    @admin.display(description="runs")
    def runs_display(self, row: JobSchedule) -> SafeString:
        return self._runs(row, list_url=self.runs_url(row))

    def _runs(self, row: JobSchedule, list_url: str | None) -> SafeString:
        summary = summary_of(row)
        site = self.admin_site
        return render_field(
            "schedule_runs",
            runs=[
                {
                    "pk": run.jobman_id,
                    "url": admin_url(site, "jobman_jobman_change", run.jobman_id),
                    "slot": moment(run.slot) if run.slot is not None else None,
                    "badge": status_badge(run.status),
                }
                for run in (summary.last_runs if summary is not None else [])
            ],
            list_url=list_url,
        )

    @admin.display(description="settings")
    def settings_display(self, row: JobSchedule) -> SafeString | str:
        summary = summary_of(row)
        if summary is None:
            return empty("not configured")
        schedule = summary.schedule
        overlap = "allowed" if schedule.overlap else "a slot is skipped while a run is unfinished"
        queue = schedule.queue or "its type's"
        return f"Queue {queue}; catch up: {schedule.catch_up}; overlap: {overlap}."

    @admin.display(description="attribs")
    def attribs_display(self, row: JobSchedule) -> SafeString:
        summary = summary_of(row)
        if summary is None:
            return empty("not configured")
        return pretty_json(summary.schedule.attribs)

    fired_through_display = field("fired through", lambda row: local_time(row.fired_through))

    # Actions: through operations, with their own permission.

    pause_action = operation_action(
        "Pause selected schedules",
        "pause",
        by_name(operations.pause_schedules),
        lambda result: change_lines("Paused", result),
    )
    resume_action = operation_action(
        "Resume selected schedules",
        "pause",
        by_name(operations.resume_schedules),
        lambda result: change_lines("Resumed", result),
    )

    def object_actions(self, request: HttpRequest, row: JobSchedule) -> list[dict[str, str]]:
        if summary_of(row) is None or not self.has_pause_permission(request):
            return []
        if row.paused_at is None:
            return [{"action": "pause_action", "label": "Pause"}]
        return [{"action": "resume_action", "label": "Resume"}]


def _configured(row: JobSchedule, show: Callable[[Summary], object]) -> object:
    """``show(summary)`` of the row's schedule, or "not configured"."""
    summary = summary_of(row)
    return empty("not configured") if summary is None else show(summary)
