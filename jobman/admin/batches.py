"""The admin of job batches: progress, callbacks, the jobs, and cancelling."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from jobman import operations
from jobman.admin.base import ReadOnlyAdmin, outcome_lines
from jobman.admin.display import (
    admin_url,
    batch_badge,
    batch_progress,
    listing,
    local_time,
    moment,
    pretty_json,
    status_badge,
)
from jobman.admin.filters import BatchFilter, BatchStateFilter
from jobman.models import JobBatch
from jobman.words import plural

# Jobs a batch's page lists: one query with this limit, however large the batch.
BATCH_JOBS_SHOWN = 100


@admin.register(JobBatch)
class JobBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "name_display",
        "state_display",
        "progress_display",
        "jobs",
        "pending",
        "failed",
        "created",
        "finished",
    )
    list_display_links = ("id", "name_display")
    list_filter = (BatchStateFilter,)
    search_fields = ("name",)
    search_help_text = "An id (5 or #5), or text found in the name."
    # Newest first, by the primary key's index.
    ordering = ("-pk",)
    sortable_by = ("id",)
    change_form_template = "admin/jobman/jobman/change_form.html"
    actions = ("cancel_batch_action",)
    fieldsets = (
        (None, {"fields": ("id", "name", "state_display", "progress_display", "counts")}),
        ("Timeline", {"fields": ("timeline",)}),
        ("Callbacks", {"fields": ("callbacks_display",)}),
        ("Jobs", {"fields": ("jobs_display",)}),
    )
    readonly_fields = (
        "id",
        "name",
        "state_display",
        "progress_display",
        "counts",
        "timeline",
        "callbacks_display",
        "jobs_display",
    )

    def changelist_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.defer("callbacks")

    def jobs_url(self, batch: JobBatch, query: str = "") -> str | None:
        """The jobs list, filtered to the batch's jobs, if this site serves it."""
        return admin_url(
            self.admin_site,
            "jobman_jobman_changelist",
            query=f"?{BatchFilter.parameter_name}={batch.pk}{query}",
        )

    # Columns

    @admin.display(description="name")
    def name_display(self, batch: JobBatch) -> str:
        return batch.name or "(no name)"

    @admin.display(description="state")
    def state_display(self, batch: JobBatch) -> SafeString:
        return batch_badge(batch)

    @admin.display(description="progress")
    def progress_display(self, batch: JobBatch) -> SafeString:
        return batch_progress(batch)

    @admin.display(description="jobs")
    def jobs(self, batch: JobBatch) -> SafeString | int:
        url = self.jobs_url(batch)
        return format_html('<a href="{}">{}</a>', url, batch.total) if url else batch.total

    @admin.display(description="created", ordering="pk")
    def created(self, batch: JobBatch) -> str:
        return local_time(batch.created_at)

    @admin.display(description="finished")
    def finished(self, batch: JobBatch) -> str:
        return local_time(batch.finished_at)

    # The change page

    @admin.display(description="jobs")
    def counts(self, batch: JobBatch) -> SafeString:
        return format_html(
            "{} in all: {} not finished yet, {} failed, {} finished otherwise "
            "(completed or cancelled).",
            batch.total,
            batch.pending,
            batch.failed,
            max(batch.total - batch.pending - batch.failed, 0),
        )

    @admin.display(description="timeline")
    def timeline(self, batch: JobBatch) -> SafeString:
        events = [
            (when, kind)
            for when, kind in (
                (batch.created_at, "created"),
                (batch.first_failed_at, "first failure"),
                (batch.cancelled_at, "cancelled"),
                (batch.finished_at, "finished"),
            )
            if when is not None
        ]
        events.sort(key=lambda event: event[0])
        return format_html(
            '<ol class="jobman-timeline">{}</ol>',
            format_html_join(
                "",
                '<li class="jobman-event-{}">{} <strong>{}</strong></li>',
                ((kind.replace(" ", "-"), moment(when), kind) for when, kind in events),
            ),
        )

    @admin.display(description="callbacks")
    def callbacks_display(self, batch: JobBatch) -> SafeString:
        callbacks = batch.callbacks if isinstance(batch.callbacks, dict) else {}
        rows = []
        for which in ("then", "catch", "finally"):
            spec = callbacks.get(which)
            if not isinstance(spec, dict):
                continue
            rows.append(
                format_html(
                    '<tr data-callback="{}"><th scope="row">{}</th><td>{}</td><td>{}</td>'
                    "<td>{}</td><td>{}</td></tr>",
                    which,
                    which,
                    spec.get("type", ""),
                    spec.get("queue") or "",
                    pretty_json(spec.get("attribs", {})),
                    _callback_state(batch, which),
                )
            )
        if not rows:
            return format_html('<span class="jobman-empty">{}</span>', "none")
        return format_html(
            '<table class="jobman-callbacks"><thead><tr><th>When</th><th>Type</th>'
            "<th>Queue</th><th>Attribs</th><th>Sent</th></tr></thead><tbody>{}</tbody></table>",
            mark_safe("".join(rows)),
        )

    @admin.display(description="jobs")
    def jobs_display(self, batch: JobBatch) -> SafeString:
        found = list(
            batch.jobs.order_by("pk").values_list("pk", "type", "status")[: BATCH_JOBS_SHOWN + 1]
        )
        shown = found[:BATCH_JOBS_SHOWN]
        if not shown:
            return format_html('<span class="jobman-empty">{}</span>', "none left")
        site = self.admin_site
        rows = format_html_join(
            "",
            '<tr data-jobman-id="{}"><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    pk,
                    format_html('<a href="{}">#{}</a>', url, pk) if url else f"#{pk}",
                    job_type,
                    status_badge(status),
                )
                for pk, job_type, status in shown
                for url in [admin_url(site, "jobman_jobman_change", pk)]
            ),
        )
        url = self.jobs_url(batch)
        more = (
            format_html(
                "<p>The first {} by id. {}</p>",
                len(shown),
                format_html('<a href="{}">All {} in the list</a>', url, batch.total) if url else "",
            )
            if len(found) > BATCH_JOBS_SHOWN
            else format_html('<p><a href="{}">In the jobs list</a></p>', url)
            if url
            else ""
        )
        return format_html(
            '<table class="jobman-batch-jobs"><thead><tr><th>Job</th><th>Type</th>'
            "<th>Status</th></tr></thead><tbody>{}</tbody></table>{}",
            rows,
            more,
        )

    # Actions

    @admin.action(
        description="Cancel selected batches (their waiting jobs)", permissions=["cancel"]
    )
    def cancel_batch_action(
        self, request: HttpRequest, queryset: QuerySet[JobBatch]
    ) -> HttpResponseRedirect | None:
        return self.run_action(
            request, queryset, operations.cancel_batches, cancel_batch_lines, "Nothing to cancel."
        )

    def object_actions(self, request: HttpRequest, batch: JobBatch) -> list[dict[str, str]]:
        if batch.finished_at is None and self.has_cancel_permission(request):
            return [{"action": "cancel_batch_action", "label": "Cancel batch"}]
        return []


def _callback_state(batch: JobBatch, which: str) -> str:
    """Whether a batch's callback has been dispatched, will be, or will not be."""
    if which == "catch":
        if batch.first_failed_at is not None:
            return f"dispatched at {local_time(batch.first_failed_at)}, at the first failure"
        if batch.finished_at is not None:
            return "not sent: no job failed"
        return "not yet: sent at the first failure"
    if batch.finished_at is None:
        return "not yet: sent when every job has finished" + (
            ", if all completed" if which == "then" else ""
        )
    if which == "finally":
        return f"dispatched at {local_time(batch.finished_at)}"
    if batch.cancelled_at is not None:
        return "not sent: the batch was cancelled"
    if batch.failed:
        return "not sent: a job failed"
    return f"dispatched at {local_time(batch.finished_at)}"


def cancel_batch_lines(
    result: operations.Result[operations.CancelledBatch],
) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    if result.done:
        described = []
        for batch in result.done:
            text = f"{batch.batch_id}" + (f" ({batch.name})" if batch.name else "")
            text += f": {plural(batch.cancelled, 'waiting job')} cancelled"
            if batch.unfinished:
                text += f", {batch.unfinished} still running"
            described.append(text)
        count = len(result.done)
        lines.append(
            (
                messages.SUCCESS,
                f"Cancelled {count} {'batch' if count == 1 else 'batches'}: {listing(described)}.",
            )
        )
    return lines + outcome_lines(result, "batch")
