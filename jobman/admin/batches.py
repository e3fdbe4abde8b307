"""The admin of job batches: progress, callbacks, the jobs, and cancelling."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from jobman import operations
from jobman.admin.base import ReadOnlyAdmin, operation_action, outcome_lines
from jobman.admin.display import (
    admin_url,
    batch_badge,
    batch_progress,
    empty,
    event_timeline,
    field,
    link,
    listing,
    local_time,
    pretty_json,
    render_field,
    status_badge,
)
from jobman.admin.filters import BatchFilter, BatchStateFilter
from jobman.models import JobBatch
from jobman.words import plural

# Jobs a batch's page lists: one query with this limit, however large the batch.
BATCH_JOBS_SHOWN = 100


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
    readonly_fields = flatten_fieldsets(fieldsets)

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

    name_display = field("name", lambda batch: batch.name or "(no name)")
    state_display = field("state", batch_badge)
    progress_display = field("progress", batch_progress)

    @admin.display(description="jobs")
    def jobs(self, batch: JobBatch) -> SafeString:
        return link(self.jobs_url(batch), batch.total)

    created = field("created", lambda batch: local_time(batch.created_at), ordering="pk")
    finished = field("finished", lambda batch: local_time(batch.finished_at))

    # The change page

    @admin.display(description="jobs")
    def counts(self, batch: JobBatch) -> str:
        otherwise = max(batch.total - batch.pending - batch.failed, 0)
        return (
            f"{batch.total} in all: {batch.pending} not finished yet, {batch.failed} failed, "
            f"{otherwise} finished otherwise (completed or cancelled)."
        )

    @admin.display(description="timeline")
    def timeline(self, batch: JobBatch) -> SafeString:
        events = [
            (when, kind, "")
            for when, kind in (
                (batch.created_at, "created"),
                (batch.first_failed_at, "first failure"),
                (batch.cancelled_at, "cancelled"),
                (batch.finished_at, "finished"),
            )
            if when is not None
        ]
        return event_timeline(events)

    @admin.display(description="callbacks")
    def callbacks_display(self, batch: JobBatch) -> SafeString:
        callbacks = batch.callbacks if isinstance(batch.callbacks, dict) else {}
        specs = [(which, callbacks.get(which)) for which in ("then", "catch", "finally")]
        shown = [
            {
                "which": which,
                "type": spec.get("type", ""),
                "queue": spec.get("queue") or "",
                "attribs": pretty_json(spec.get("attribs", {})),
                "state": _callback_state(batch, which),
            }
            for which, spec in specs
            if isinstance(spec, dict)
        ]
        if not shown:
            return empty("none")
        return render_field("callbacks", callbacks=shown)

    @admin.display(description="jobs")
    def jobs_display(self, batch: JobBatch) -> SafeString:
        found = list(
            batch.jobs.order_by("pk").values_list("pk", "type", "status")[: BATCH_JOBS_SHOWN + 1]
        )
        shown = found[:BATCH_JOBS_SHOWN]
        if not shown:
            return empty("none left")
        site = self.admin_site
        return render_field(
            "batch_jobs",
            jobs=[
                {
                    "pk": pk,
                    "url": admin_url(site, "jobman_jobman_change", pk),
                    "type": job_type,
                    "badge": status_badge(status),
                }
                for pk, job_type, status in shown
            ],
            more=len(found) > BATCH_JOBS_SHOWN,
            total=batch.total,
            list_url=self.jobs_url(batch),
        )

    # Actions

    cancel_batch_action = operation_action(
        "Cancel selected batches (their waiting jobs)",
        "cancel",
        operations.cancel_batches,
        cancel_batch_lines,
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
