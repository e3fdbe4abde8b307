"""The admin of failed jobs (the ``failed_jobs`` table): retry and forget."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.safestring import SafeString

from jobman import operations
from jobman.admin.base import (
    ReadOnlyAdmin,
    done_lines,
    operation_action,
    outcome_lines,
    retry_lines,
)
from jobman.admin.display import (
    admin_url,
    field,
    first_line,
    link,
    preformatted,
    pretty_json,
)
from jobman.admin.filters import FailedJobTypeFilter, QueueFilter
from jobman.models import FailedJob


def forget_lines(result: operations.Result[int]) -> list[tuple[int, str]]:
    labels = [str(pk) for pk in result.done]
    return done_lines("Forgot {}", labels, "failed job") + outcome_lines(result, "failed job")


@admin.register(FailedJob)
class FailedJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "job", "job_type", "queue", "failed_at", "error")
    list_filter = (QueueFilter, FailedJobTypeFilter)
    search_fields = ("jobman__type", "jobman__error_message")
    search_help_text = (
        "An id (42 or #42) of a failed job or of its job, or text found in the type or the "
        "error message."
    )
    # A search for an id finds a failed job by its own id or by its job's.
    id_lookups = ("pk", "jobman_id")
    ordering = ("-failed_at",)
    sortable_by = ("id", "failed_at")
    actions = ("retry_action", "forget_action")
    fields = (
        "id",
        "uuid",
        "job",
        "job_type",
        "connection",
        "queue",
        "failed_at",
        "payload_display",
        "exception_display",
    )
    readonly_fields = fields

    def changelist_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("jobman").only(
            "id",
            "queue",
            "failed_at",
            "jobman__id",
            "jobman__type",
            "jobman__status",
            "jobman__error_message",
        )

    @admin.display(description="job", ordering="jobman_id")
    def job(self, failure: FailedJob) -> SafeString:
        url = reverse(f"{self.admin_site.name}:jobman_jobman_change", args=[failure.jobman_id])
        return link(url, f"#{failure.jobman_id}")

    job_type = field("type", lambda failure: failure.jobman.type)
    error = field("error", lambda failure: first_line(failure.jobman.error_message))

    @admin.display(description="payload")
    def payload_display(self, failure: FailedJob) -> SafeString:
        attribs = admin_url(self.admin_site, "jobman_jobman_attribs", failure.jobman_id)
        return pretty_json(failure.payload, attribs, "The job's attribs, as JSON")

    exception_display = field("exception", lambda failure: preformatted(failure.exception))

    retry_action = operation_action(
        "Retry selected failed jobs", "retry", operations.retry, retry_lines
    )
    forget_action = operation_action(
        "Forget selected failed jobs (their jobs stay failed)",
        "forget",
        operations.forget,
        forget_lines,
    )
