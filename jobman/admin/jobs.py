"""The admin of jobs (the ``jobmans`` table): the changelist, a job's page as its history,
and the retry, requeue and cancel actions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from jobman import bounds, operations, queues, registry, words
from jobman.admin import queues as queue_switches
from jobman.admin.base import (
    ReadOnlyAdmin,
    done_lines,
    operation_action,
    outcome_lines,
    retry_lines,
    unpushed_lines,
)
from jobman.admin.display import (
    admin_url,
    attempt_events,
    batch_badge,
    batch_label,
    batch_progress,
    empty,
    event_timeline,
    field,
    finished_at,
    format_seconds,
    job_progress,
    link,
    local_time,
    moment,
    preformatted,
    pretty_json,
    render_field,
    run_seconds,
    status_badge,
)
from jobman.admin.filters import (
    BatchFilter,
    ChainFilter,
    EverFailedFilter,
    JobTypeFilter,
    QueueFilter,
    ScheduleFilter,
)
from jobman.dashboard import views as dashboard_views
from jobman.jobs import JobmanJob
from jobman.models import JobBatch, Jobman, JobSchedule, JobStatus

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


# Columns the changelist does not show and that can be large.
HEAVY_FIELDS = ("attribs", "logs", "error_message", "exception", "history")

# Steps of a chain a job's page lists, around its own: one query with this limit,
# however long the chain.
CHAIN_STEPS_SHOWN = 100

# The Controls fieldset of a job's page: each field shows only on the rows it concerns.
CONTROL_FIELDS = (
    "delay_display",
    "unique_display",
    "chain_display",
    "batch_display",
    "schedule_display",
)

# What the actions say


def requeue_lines(result: operations.Result[operations.RequeuedJob]) -> list[tuple[int, str]]:
    lines = done_lines(
        "Pushed {} to Redis",
        [f"#{job.jobman_id} ({job.type})" for job in operations.pushed(result)],
    )
    lines += unpushed_lines(
        messages.ERROR, "Redis could not take {}; they stay pending: ", result.unpushed
    )
    return lines + outcome_lines(result, "job")


def cancel_lines(result: operations.Result[operations.CancelledJob]) -> list[tuple[int, str]]:
    done = result.done
    cancelled = [f"#{j.jobman_id} ({j.type}, was {j.status})" for j in done if not j.stopping]
    stopping = [f"#{j.jobman_id} ({j.type})" for j in done if j.stopping]
    return (
        done_lines("Cancelled {}", cancelled)
        + done_lines("Asked {} to stop", stopping)
        + outcome_lines(result, "job")
    )


# Jobman


@admin.register(Jobman)
class JobmanAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "type",
        "queue",
        "status_display",
        "tries",
        "created",
        "started",
        "finished",
        "duration",
        "progress_display",
        "completed_code",
    )
    list_filter = (
        "status",
        JobTypeFilter,
        QueueFilter,
        EverFailedFilter,
        BatchFilter,
        ChainFilter,
        ScheduleFilter,
    )
    date_hierarchy = "created_at"
    search_fields = ("type", "error_message")
    search_help_text = "An id (42 or #42), or text found in the type or the error message."
    # Newest first, by an index; the changelist adds -id to keep the order stable.
    ordering = ("-created_at",)
    sortable_by = ("id", "created")
    change_list_template = "admin/jobman/jobman/change_list.html"
    change_form_template = "admin/jobman/jobman/change_form.html"
    actions = ("retry_action", "requeue_action", "cancel_action")
    # Seconds between two refreshes of the dashboard page.
    dashboard_refresh = 10

    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "type",
                    "queue",
                    "status_display",
                    "tries",
                    "completed_code",
                    "worker",
                    "progress_display",
                )
            },
        ),
        ("Timeline", {"fields": ("timeline",)}),
        ("Error", {"fields": ("error_message_display", "exception_display")}),
        ("Attributes and logs", {"fields": ("attribs_display", "logs_display")}),
        ("Failed jobs and RQ", {"fields": ("failed_jobs_display", "rq_job_display")}),
    )
    # Every field is read-only: rows are history.
    readonly_fields = (*flatten_fieldsets(fieldsets), *CONTROL_FIELDS)

    def __init__(self, model: type[Jobman], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        dashboard_views.link_from_index(admin_site)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="jobman_dashboard"),
            path("dashboard.json", wrap(self.dashboard_json_view), name="jobman_dashboard_json"),
            path("dashboard/queue/", wrap(self.queue_switch_view), name="jobman_dashboard_queue"),
            path(
                "<path:object_id>/attribs.json",
                wrap(self.attribs_json_view),
                name="jobman_jobman_attribs",
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        switch_url = None
        if queue_switches.may_pause(request):
            switch_url = reverse(f"{self.admin_site.name}:jobman_dashboard_queue")
        return dashboard_views.page(self, request, queue_switch_url=switch_url)

    def queue_switch_view(self, request: HttpRequest) -> HttpResponse:
        return queue_switches.switch_view(self, request)

    def attribs_json_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A row's whole attribs, for a value too large for its page."""
        row = self.get_object(request, object_id)
        if not self.has_view_permission(request, row):
            raise PermissionDenied
        if row is None:
            raise Http404(f"No job with the id {bounds.quoted(object_id)}.")
        text = json.dumps(row.attribs, indent=2, ensure_ascii=False, sort_keys=True)
        return HttpResponse(text, content_type="application/json; charset=utf-8")

    def dashboard_json_view(self, request: HttpRequest) -> HttpResponse:
        return dashboard_views.figures_json(self, request)

    # The changelist reads only the columns it shows.

    def changelist_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.defer(*HEAVY_FIELDS)

    def get_fieldsets(self, request: HttpRequest, obj: Jobman | None = None) -> _FieldsetSpec:
        """The fieldsets, with a Controls one, after the timeline, for the controls in use."""
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        relevant = {
            "delay_display": obj.available_at is not None,
            "unique_display": obj.unique_key is not None or _unique_class(obj) is not None,
            "chain_display": obj.chain_id is not None,
            "batch_display": self._batch_of(obj) is not None,
            "schedule_display": obj.schedule is not None,
        }
        shown = tuple(name for name in CONTROL_FIELDS if relevant[name])
        if shown:
            fieldsets.insert(2, ("Controls", {"fields": shown}))
        return fieldsets

    def _batch_of(self, row: Jobman) -> tuple[JobBatch, str | None] | None:
        """The row's batch and, for a callback job, which callback it is; read once per row."""
        cached: tuple[JobBatch, str | None] | None
        try:
            return row._jobman_batch  # type: ignore[attr-defined, no-any-return]
        except AttributeError:
            pass
        cached = None
        if row.batch_id is not None:
            batch = JobBatch.objects.filter(pk=row.batch_id).defer("callbacks").first()
            cached = (batch, None) if batch is not None else None
        elif isinstance(row.attribs, dict) and type(row.attribs.get("batch_id")) is int:
            # Callback jobs carry their batch's id in their attribs.
            batch = JobBatch.objects.filter(pk=row.attribs["batch_id"]).first()
            if batch is not None:
                which = [
                    name
                    for name, spec in batch.callbacks.items()
                    if isinstance(spec, dict) and spec.get("type") == row.type
                ]
                cached = (batch, " or ".join(which)) if which else None
        row._jobman_batch = cached  # type: ignore[attr-defined]
        return cached

    # Columns

    status_display = field("status", lambda row: status_badge(row.status), ordering="status")
    tries = field("tries", lambda row: f"{row.attempts}/{row.max_tries}")
    created = field("created", lambda row: local_time(row.created_at), ordering="created_at")
    started = field("started", lambda row: local_time(row.started_at))
    finished = field("finished", lambda row: local_time(finished_at(row)))
    duration = field("duration", lambda row: format_seconds(run_seconds(row)))
    progress_display = field("progress", job_progress)

    # The change page

    @admin.display(description="timeline")
    def timeline(self, row: Jobman) -> SafeString:
        events: list[tuple[datetime, str, str]] = [
            (row.created_at, "created", f"on queue {row.queue}")
        ]
        if row.pushed_at:
            events.append((row.pushed_at, "pushed", "to Redis"))
        events += attempt_events(row)
        if row.status == JobStatus.RETRYING and row.available_at:
            events.append((row.available_at, "next attempt due", f"attempt {row.attempts + 1}"))
        if row.completed_at:
            events.append((row.completed_at, "completed", row.completed_code or ""))
        if row.status == JobStatus.CANCELLED:
            events.append((row.updated_at, "cancelled", ""))
        return event_timeline(events, took=run_seconds(row))

    error_message_display = field("error message", lambda row: preformatted(row.error_message))
    exception_display = field("exception", lambda row: preformatted(row.exception))
    logs_display = field("logs", lambda row: preformatted(row.logs, "no log lines"))

    @admin.display(description="attribs")
    def attribs_display(self, row: Jobman) -> SafeString:
        return pretty_json(row.attribs, admin_url(self.admin_site, "jobman_jobman_attribs", row.pk))

    @admin.display(description="failed jobs")
    def failed_jobs_display(self, row: Jobman) -> SafeString:
        failures = list(row.failures.order_by("-failed_at").values_list("pk", "failed_at"))
        if not failures:
            return empty("none")
        site = self.admin_site.name
        return render_field(
            "failed_jobs",
            failures=[
                {
                    "url": reverse(f"{site}:jobman_failedjob_change", args=[pk]),
                    "pk": pk,
                    "when": local_time(when),
                }
                for pk, when in failures
            ],
        )

    @admin.display(description="RQ job")
    def rq_job_display(self, row: Jobman) -> SafeString:
        return format_html("<code>{}</code>: {}", row.rq_job_id, rq_job_state(row))

    # Controls

    @admin.display(description="delay")
    def delay_display(self, row: Jobman) -> SafeString | str:
        """When the row may start: a dispatch's delay, a retry's backoff, or a release."""
        at = row.available_at
        if at is None:
            return "-"
        ahead = (at - timezone.now()).total_seconds()
        waits = row.status in JobStatus.waiting() and ahead > 0
        return render_field(
            "delay",
            at=moment(at),
            after=words.span((at - row.created_at).total_seconds()),
            ahead=words.span(ahead) if waits else None,
            what="Next attempt" if row.status == JobStatus.RETRYING else "Runs",
        )

    @admin.display(description="unique")
    def unique_display(self, row: Jobman) -> SafeString | str:
        job_class = _unique_class(row)
        if job_class is None and row.unique_key is None:
            return "-"
        rule = ""
        ends = None
        if job_class is not None:
            until = "starts" if job_class.unique_until == "processing" else "finishes"
            rule = f"unique per unique id until it {until}"
            if job_class.unique_for is not None:
                rule += f", for {words.span(job_class.unique_for)} after dispatch at most"
                ends = row.created_at + timedelta(seconds=job_class.unique_for)
        return render_field(
            "unique",
            key=row.unique_key,
            type=row.type,
            rule=rule,
            ends=moment(ends) if ends is not None else None,
            expired=ends is not None and ends <= timezone.now(),
        )

    @admin.display(description="chain")
    def chain_display(self, row: Jobman) -> SafeString | str:
        if row.chain_id is None:
            return "-"
        position = row.chain_position or 0
        start = max(position - CHAIN_STEPS_SHOWN // 2, 0)
        steps = list(
            Jobman.objects.filter(chain_id=row.chain_id, chain_position__gte=start)
            .order_by("chain_position")
            .values_list("pk", "chain_position", "type", "status")[: CHAIN_STEPS_SHOWN + 1]
        )
        more = len(steps) > CHAIN_STEPS_SHOWN
        steps = steps[:CHAIN_STEPS_SHOWN]
        last = (steps[-1][1] or 0) if steps else position
        site = self.admin_site
        reason = row.cancel_reason if row.status == JobStatus.CANCELLED else None
        return render_field(
            "chain",
            position=position + 1,
            total=f"more than {last + 1}" if more else last + 1,
            chain_id=row.chain_id,
            hidden_before=start,
            hidden_after=more,
            steps=[
                {
                    "number": (step or 0) + 1,
                    "pk": pk,
                    "current": pk == row.pk,
                    "url": None if pk == row.pk else admin_url(site, "jobman_jobman_change", pk),
                    "type": job_type,
                    "badge": status_badge(status),
                }
                for pk, step, job_type, status in steps
            ],
            reason=reason,
            list_url=admin_url(
                site,
                "jobman_jobman_changelist",
                query=f"?{ChainFilter.parameter_name}={row.chain_id}",
            ),
        )

    @admin.display(description="batch")
    def batch_display(self, row: Jobman) -> SafeString | str:
        found = self._batch_of(row)
        if found is None:
            return "-"
        batch, callback = found
        site = self.admin_site
        list_url = admin_url(
            site, "jobman_jobman_changelist", query=f"?{BatchFilter.parameter_name}={batch.pk}"
        )
        return render_field(
            "batch",
            callback=callback,
            batch_link=link(
                admin_url(site, "jobman_jobbatch_change", batch.pk), batch_label(batch)
            ),
            badge=batch_badge(batch),
            progress=batch_progress(batch) if callback is None else None,
            list_url=list_url,
        )

    @admin.display(description="schedule")
    def schedule_display(self, row: Jobman) -> SafeString | str:
        if row.schedule is None:
            return "-"
        state = JobSchedule.objects.filter(name=row.schedule).values_list("pk", flat=True)
        pk = state.first()
        url = admin_url(self.admin_site, "jobman_jobschedule_change", pk) if pk else None
        return render_field(
            "scheduled_run",
            schedule=link(url, row.schedule),
            slot=moment(row.scheduled_for) if row.scheduled_for is not None else None,
        )

    # Actions: each through operations, each with its own permission.

    retry_action = operation_action(
        "Retry selected failed jobs", "retry", operations.retry_rows, retry_lines
    )
    requeue_action = operation_action(
        "Requeue selected pending jobs", "requeue", operations.requeue, requeue_lines
    )

    @admin.action(
        description="Cancel selected jobs (running ones are stopped)", permissions=["cancel"]
    )
    def cancel_action(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponseRedirect | None:
        who = f"{request.user.get_username()} (admin)"
        return self.run_action(
            request,
            queryset,
            lambda ids: operations.cancel(ids, who=who),
            cancel_lines,
            "Nothing to cancel.",
        )

    def object_actions(self, request: HttpRequest, row: Jobman) -> list[dict[str, str]]:
        """The actions the change page offers as buttons for this row."""
        offered = []
        if row.status == JobStatus.FAILED and self.has_retry_permission(request):
            offered.append({"action": "retry_action", "label": "Retry"})
        if row.status == JobStatus.PENDING and self.has_requeue_permission(request):
            offered.append({"action": "requeue_action", "label": "Requeue"})
        if row.status in JobStatus.waiting() and self.has_cancel_permission(request):
            offered.append({"action": "cancel_action", "label": "Cancel"})
        if row.status == JobStatus.RUNNING and self.has_cancel_permission(request):
            offered.append({"action": "cancel_action", "label": "Stop"})
        return offered


def _unique_class(row: Jobman) -> type[JobmanJob] | None:
    """The row's job class, when it makes its jobs unique."""
    job_class = registry.find(row.type)
    if job_class is None or job_class.unique_id is JobmanJob.unique_id:
        return None
    return job_class


def rq_job_state(row: Jobman) -> str:
    """What RQ says of the row's job: its status, or why it cannot say."""
    if row.queue not in queues.configured_queues():
        return f"queue {row.queue!r} is not in settings.RQ_QUEUES"
    try:
        job = RQJob.fetch(
            row.rq_job_id, connection=queues.get_connection(row.queue), serializer=JSONSerializer
        )
        state = job.get_status(refresh=False)
    except NoSuchJobError:
        return "not in Redis (RQ forgets a finished job after its result TTL)"
    except RedisError as error:
        return f"Redis could not be asked ({error})"
    return f"{state.value if state is not None else 'unknown'} in RQ"
