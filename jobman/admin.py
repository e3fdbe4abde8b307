"""The admin: a read-only history of every job, actions that go through ``operations``.

Built for tables of millions of rows: the changelist never counts the whole table, its
filters take their choices from the job registry and ``RQ_QUEUES`` instead of a
``SELECT DISTINCT``, the date hierarchy reads only the first and last date, and the
columns it sorts by are indexed. Rows are never edited or deleted here: retrying,
requeueing, cancelling and forgetting call the same functions as the commands.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from jobman import dashboard, operations, queues, registry
from jobman.models import FailedJob, Jobman, JobStatus

# Rows one action may act on. Beyond it the action changes nothing and points to the
# commands, which work in batches outside a web request.
ACTION_LIMIT = 1000

# Rows an action's message names one by one; the rest are counted.
MESSAGE_LIST_LIMIT = 10

# How many pages past the current one the changelist counts rows for. The count stops
# there, so a page of a million-row table costs a bounded count, not a full one.
PAGES_AHEAD = 10

# Columns the changelist does not show and that can be large.
HEAVY_FIELDS = ("attribs", "logs", "error_message", "exception")

# A row's page posts its buttons to the changelist's actions with this field, to come back.
NEXT_FIELD = "_jobman_next"

PERMISSION_RETRY = "jobman.retry_jobman"
PERMISSION_REQUEUE = "jobman.requeue_jobman"
PERMISSION_CANCEL = "jobman.cancel_jobman"
PERMISSION_FORGET = "jobman.forget_failedjob"


# Counting without counting everything


class AtLeast(int):
    """A row count that stopped early: there are this many rows, and maybe more."""

    def __str__(self) -> str:
        return f"{int(self)}+"


class BoundedCountPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator whose count stops after ``limit`` rows.

    It reads the ids of at most ``limit + 1`` matching rows, in whatever order the
    database finds them cheapest, where ``COUNT(*)`` over a million-row table reads every
    row. When the count stops, it is an ``AtLeast``, shown as "1100+".
    """

    def __init__(
        self, object_list: QuerySet[Any], per_page: int, *, limit: int, **kwargs: Any
    ) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.queryset = object_list
        self.limit = limit

    @cached_property
    def found_ids(self) -> list[int]:
        """Ids of matching rows: all of them when there are no more than ``limit``."""
        return list(self.queryset.order_by().values_list("pk", flat=True)[: self.limit + 1])

    @cached_property
    def count(self) -> int:
        found = len(self.found_ids)
        return AtLeast(self.limit) if found > self.limit else found


class BoundedChangeList(ChangeList):
    """A changelist that counts by ``BoundedCountPaginator`` and whose date hierarchy
    costs two index seeks, not a DISTINCT scan."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        paginator = self.paginator
        if not self.multi_page and isinstance(paginator, BoundedCountPaginator):
            # One page holds every match, and counting found their ids: read those rows by
            # primary key instead of running the filters (a search's scan) a second time.
            self.result_list = self.queryset.filter(pk__in=paginator.found_ids)

    def date_hierarchy_links(self) -> dict[str, Any]:
        return date_hierarchy_links(self)


def date_hierarchy_links(cl: ChangeList) -> dict[str, Any]:
    """Links for the date hierarchy, offered from the first to the last date of the table.

    Django's own tag asks the database for each distinct year, month or day, a scan of
    every row in range. This offers every period between the table's first and last row
    instead, each read from the index; a link may lead to an empty page.
    """
    field_name = str(cl.date_hierarchy)
    year_field, month_field, day_field = (
        f"{field_name}__year",
        f"{field_name}__month",
        f"{field_name}__day",
    )
    year, month, day = (_int_param(cl, name) for name in (year_field, month_field, day_field))

    def link(filters: dict[str, int]) -> str:
        return str(cl.get_query_string(filters, [f"{field_name}__"]))

    # The whole table's first and last date: two index seeks whatever the filters and
    # search, where those of a search's results could take a scan each. (Two queries, as
    # SQLite reads every row when one query asks for both MIN and MAX.)
    dates = cl.root_queryset.values_list(field_name, flat=True)
    first = dates.order_by(field_name).first()
    last = dates.order_by(f"-{field_name}").first()
    if first is None or last is None:
        return {"show": False}
    first, last = timezone.localtime(first).date(), timezone.localtime(last).date()
    if year is None and first.year == last.year:
        year = first.year
        if first.month == last.month:
            month = first.month

    if year is not None and month is not None and day is not None:
        try:
            chosen = date(year, month, day)
        except ValueError:
            return {"show": False}
        return {
            "show": True,
            "back": {
                "link": link({year_field: year, month_field: month}),
                "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
        }
    if year is not None and month is not None:
        if not 1 <= month <= 12:
            return {"show": False}
        days = range(1, calendar.monthrange(year, month)[1] + 1)
        return {
            "show": True,
            "back": {"link": link({year_field: year}), "title": str(year)},
            "choices": [
                {
                    "link": link({year_field: year, month_field: month, day_field: d}),
                    "title": capfirst(
                        formats.date_format(date(year, month, d), "MONTH_DAY_FORMAT")
                    ),
                }
                for d in days
                if first <= date(year, month, d) <= last
            ],
        }
    if year is not None:
        return {
            "show": True,
            "back": {"link": link({}), "title": "All dates"},
            "choices": [
                {
                    "link": link({year_field: year, month_field: m}),
                    "title": capfirst(formats.date_format(date(year, m, 1), "YEAR_MONTH_FORMAT")),
                }
                for m in range(1, 13)
                if (first.year, first.month) <= (year, m) <= (last.year, last.month)
            ],
        }
    return {
        "show": True,
        "back": None,
        "choices": [
            {"link": link({year_field: y}), "title": str(y)}
            for y in range(first.year, last.year + 1)
        ],
    }


def _int_param(cl: ChangeList, name: str) -> int | None:
    value = cl.params.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# Filters whose choices cost no query


class JobTypeFilter(admin.SimpleListFilter):
    """Job types from the registry: a ``SELECT DISTINCT type`` would read every row."""

    title = "type"
    parameter_name = "type"
    field_path = "type"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        types = set(registry.all_types())
        chosen = self.value()
        if chosen:
            types.add(chosen)  # a type no longer registered, reached by a link
        return [(name, name) for name in sorted(types)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field_path: value}) if value else queryset


class FailedJobTypeFilter(JobTypeFilter):
    field_path = "jobman__type"


class QueueFilter(admin.SimpleListFilter):
    """Queues from ``RQ_QUEUES``, with the chosen one kept should it have been removed."""

    title = "queue"
    parameter_name = "queue"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        names = set(queues.configured_queues())
        chosen = self.value()
        if chosen:
            names.add(chosen)
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(queue=value) if value else queryset


class EverFailedFilter(admin.SimpleListFilter):
    """Rows with at least one failed attempt, including those that succeeded later."""

    title = "has failed at least once"
    parameter_name = "failed"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(failed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(failed_at__isnull=True)
        return queryset


# Display helpers


def pretty_json(value: Any) -> SafeString:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html('<pre class="jobman-pre">{}</pre>', text)


def preformatted(text: str | None, empty: str = "-") -> SafeString:
    """``text`` escaped inside ``<pre>``: a traceback keeps its lines and indentation."""
    if not text:
        return format_html('<span class="jobman-empty">{}</span>', empty)
    return format_html('<pre class="jobman-pre">{}</pre>', text)


def status_badge(status: str) -> SafeString:
    label = JobStatus(status).label if status in JobStatus.values else status
    return format_html('<span class="jobman-status jobman-status-{}">{}</span>', status, label)


def format_seconds(seconds: float | None) -> str:
    """A duration as a person reads it: ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def finished_at(row: Jobman) -> datetime | None:
    """When the row reached its final state, if it has."""
    if row.status == JobStatus.COMPLETED:
        return row.completed_at
    if row.status == JobStatus.FAILED:
        return row.failed_at
    if row.status == JobStatus.CANCELLED:
        return row.updated_at
    return None


def run_seconds(row: Jobman) -> float | None:
    """How long the last attempt took, when it has ended."""
    end = finished_at(row) if row.status != JobStatus.CANCELLED else None
    if row.started_at is None or end is None or end < row.started_at:
        return None
    return (end - row.started_at).total_seconds()


def _when(moment: datetime | None) -> str:
    """A moment in the current time zone, to the second: jobs take seconds, not minutes."""
    if moment is None:
        return "-"
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return formats.date_format(local, "Y-m-d H:i:s")


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _numeric_term(search_term: str) -> int | None:
    """The id a search term names (``42`` or ``#42``), if it names one."""
    term = search_term.strip().removeprefix("#")
    return int(term) if term.isdigit() and len(term) < 19 else None


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MESSAGE_LIST_LIMIT])
    more = len(items) - MESSAGE_LIST_LIMIT
    return shown + (f" and {more} more" if more > 0 else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# Not ``ModelAdmin[M]``: the admin's classes take no type arguments at run time.
class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows are history: nobody adds, edits or deletes them here."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    list_max_show_all = 200
    actions_on_bottom = True

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BoundedChangeList

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator:  # type: ignore[type-arg]
        try:
            page = max(int(request.GET.get("p", 1)), 1)
        except ValueError:
            page = 1
        limit = max((page + PAGES_AHEAD) * per_page, self.list_max_show_all)
        return BoundedCountPaginator(
            queryset,
            per_page,
            limit=limit,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
        )

    def selected_ids(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[int] | None:
        """The ids an action was given, or None (with a message) when there are too many."""
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: ACTION_LIMIT + 1])
        if len(ids) > ACTION_LIMIT:
            self.message_user(
                request,
                f"More than {ACTION_LIMIT} rows are selected; nothing was changed. Narrow the "
                "selection, or use the management commands, which work in batches.",
                messages.ERROR,
            )
            return None
        return ids

    def report(
        self, request: HttpRequest, lines: Iterable[tuple[int, str]]
    ) -> HttpResponseRedirect | None:
        """Tell what an action did; go back to the page it came from, if that was a row's."""
        for level, text in lines:
            self.message_user(request, text, level)
        back = request.POST.get(NEXT_FIELD, "")
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return HttpResponseRedirect(back) if back and safe else None


def _skipped_lines(what: str, skipped: Sequence[operations.Skipped]) -> list[tuple[int, str]]:
    if not skipped:
        return []
    reasons = [item.reason for item in skipped]
    return [(messages.WARNING, f"Skipped {_plural(len(skipped), what)}: {_listing(reasons)}.")]


def _retry_lines(
    result: operations.RetryResult, extra_skipped: Sequence[str] = ()
) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pushed = [job for job in result.retried if job.pushed]
    if pushed:
        lines.append(
            (
                messages.SUCCESS,
                f"Retried {_plural(len(pushed), 'job')}: "
                + _listing([f"#{job.jobman_id} ({job.type})" for job in pushed])
                + ".",
            )
        )
    if result.unpushed:
        lines.append(
            (
                messages.WARNING,
                f"{_plural(len(result.unpushed), 'job')} will run again but "
                "Redis could not take them now; they wait as pending until "
                "`manage.py jobman_requeue_unpushed` pushes them: "
                + _listing([f"#{job.jobman_id}" for job in result.unpushed])
                + ".",
            )
        )
    reasons = list(extra_skipped) + [item.reason for item in result.skipped]
    reasons += [f"failed job {pk} no longer exists" for pk in result.unknown]
    if reasons:
        lines.append(
            (messages.WARNING, f"Skipped {_plural(len(reasons), 'job')}: {_listing(reasons)}.")
        )
    if not lines:
        lines.append((messages.INFO, "Nothing to retry."))
    return lines


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
        "completed_code",
    )
    list_filter = ("status", JobTypeFilter, QueueFilter, EverFailedFilter)
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
                )
            },
        ),
        ("Timeline", {"fields": ("timeline",)}),
        ("Error", {"fields": ("error_message_display", "exception_display")}),
        ("Attributes and logs", {"fields": ("attribs_display", "logs_display")}),
        ("Failed jobs and RQ", {"fields": ("failed_jobs_display", "rq_job_display")}),
    )
    readonly_fields = (
        "id",
        "type",
        "queue",
        "status_display",
        "tries",
        "completed_code",
        "worker",
        "timeline",
        "error_message_display",
        "exception_display",
        "attribs_display",
        "logs_display",
        "failed_jobs_display",
        "rq_job_display",
    )

    class Media:
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("jobman/admin.css",)}

    def __init__(self, model: type[Jobman], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        dashboard.link_from_index(admin_site)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="jobman_dashboard"),
            path("dashboard.json", wrap(self.dashboard_json_view), name="jobman_dashboard_json"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        return dashboard.page(self, request)

    def dashboard_json_view(self, request: HttpRequest) -> HttpResponse:
        return dashboard.figures_json(self, request)

    # The changelist reads only the columns it shows.

    def get_queryset(self, request: HttpRequest) -> QuerySet[Jobman]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "jobman_jobman_changelist":
            queryset = queryset.defer(*HEAVY_FIELDS)
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Jobman], search_term: str
    ) -> tuple[QuerySet[Jobman], bool]:
        """An id goes straight to its row; anything else is looked for in type and error."""
        pk = _numeric_term(search_term)
        if pk is not None:
            return queryset.filter(pk=pk), False
        return super().get_search_results(request, queryset, search_term)

    # Columns

    @admin.display(description="status", ordering="status")
    def status_display(self, row: Jobman) -> SafeString:
        return status_badge(row.status)

    @admin.display(description="tries")
    def tries(self, row: Jobman) -> str:
        return f"{row.attempts}/{row.max_tries}"

    @admin.display(description="created", ordering="created_at")
    def created(self, row: Jobman) -> str:
        return _when(row.created_at)

    @admin.display(description="started")
    def started(self, row: Jobman) -> str:
        return _when(row.started_at)

    @admin.display(description="finished")
    def finished(self, row: Jobman) -> str:
        return _when(finished_at(row))

    @admin.display(description="duration")
    def duration(self, row: Jobman) -> str:
        return format_seconds(run_seconds(row))

    # The change page

    @admin.display(description="timeline")
    def timeline(self, row: Jobman) -> SafeString:
        events: list[tuple[datetime, str, str]] = [
            (row.created_at, "created", f"on queue {row.queue}")
        ]
        if row.pushed_at:
            events.append((row.pushed_at, "pushed", "to Redis"))
        if row.started_at:
            note = f"attempt {row.attempts} of {row.max_tries}"
            if row.worker:
                note += f" on {row.worker}"
            events.append((row.started_at, "started", note))
        if row.failed_at:
            kind = "failed" if row.status == JobStatus.FAILED else "attempt failed"
            events.append((row.failed_at, kind, _first_line(row.error_message)))
        if row.status == JobStatus.RETRYING and row.available_at:
            events.append((row.available_at, "next attempt due", f"attempt {row.attempts + 1}"))
        if row.completed_at:
            events.append((row.completed_at, "completed", row.completed_code or ""))
        if row.status == JobStatus.CANCELLED:
            events.append((row.updated_at, "cancelled", ""))
        events.sort(key=lambda event: event[0])
        items = format_html_join(
            "",
            '<li class="jobman-event-{}"><time datetime="{}">{}</time> <strong>{}</strong> {}</li>',
            (
                (
                    kind.replace(" ", "-"),
                    when.isoformat(),
                    _when(when),
                    kind,
                    note,
                )
                for when, kind, note in events
            ),
        )
        duration = run_seconds(row)
        total = (
            format_html("<p>Last attempt took {}.</p>", format_seconds(duration))
            if duration is not None
            else ""
        )
        return format_html('<ol class="jobman-timeline">{}</ol>{}', items, total)

    @admin.display(description="error message")
    def error_message_display(self, row: Jobman) -> SafeString:
        return preformatted(row.error_message)

    @admin.display(description="exception")
    def exception_display(self, row: Jobman) -> SafeString:
        return preformatted(row.exception)

    @admin.display(description="attribs")
    def attribs_display(self, row: Jobman) -> SafeString:
        return pretty_json(row.attribs)

    @admin.display(description="logs")
    def logs_display(self, row: Jobman) -> SafeString:
        return preformatted(row.logs, empty="no log lines")

    @admin.display(description="failed jobs")
    def failed_jobs_display(self, row: Jobman) -> SafeString:
        failures = list(row.failures.order_by("-failed_at").values_list("pk", "failed_at"))
        if not failures:
            return format_html('<span class="jobman-empty">{}</span>', "none")
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">failed job {}</a> ({})',
            (
                (
                    reverse(f"{self.admin_site.name}:jobman_failedjob_change", args=[pk]),
                    pk,
                    _when(when),
                )
                for pk, when in failures
            ),
        )

    @admin.display(description="RQ job")
    def rq_job_display(self, row: Jobman) -> SafeString:
        return format_html("<code>{}</code>: {}", row.rq_job_id, rq_job_state(row))

    # Actions: each through operations, each with its own permission.

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_RETRY)

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_REQUEUE)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_CANCEL)

    @admin.action(description="Retry selected failed jobs", permissions=["retry"])
    def retry_action(
        self, request: HttpRequest, queryset: QuerySet[Jobman]
    ) -> HttpResponseRedirect | None:
        ids = self.selected_ids(request, queryset)
        if ids is None:
            return None
        statuses = dict(Jobman.objects.filter(pk__in=ids).values_list("pk", "status"))
        failed = [pk for pk in ids if statuses.get(pk) == JobStatus.FAILED]
        failures: dict[int, list[int]] = {}
        for start in range(0, len(failed), operations.BATCH_SIZE):
            chunk = failed[start : start + operations.BATCH_SIZE]
            rows = FailedJob.objects.filter(jobman_id__in=chunk).order_by("pk")
            for failed_id, jobman_id in rows.values_list("pk", "jobman_id"):
                failures.setdefault(jobman_id, []).append(failed_id)
        skipped = [
            f"#{pk} is {statuses[pk]}, not failed"
            for pk in ids
            if statuses.get(pk) != JobStatus.FAILED
        ]
        skipped += [
            f"#{pk} has no failed_jobs row (it was forgotten), so it cannot be retried"
            for pk in failed
            if pk not in failures
        ]
        result = operations.retry(failed_id for pk in failed for failed_id in failures.get(pk, []))
        return self.report(request, _retry_lines(result, skipped))

    @admin.action(description="Requeue selected pending jobs", permissions=["requeue"])
    def requeue_action(
        self, request: HttpRequest, queryset: QuerySet[Jobman]
    ) -> HttpResponseRedirect | None:
        ids = self.selected_ids(request, queryset)
        if ids is None:
            return None
        result = operations.requeue(ids)
        lines: list[tuple[int, str]] = []
        if result.pushed:
            lines.append(
                (
                    messages.SUCCESS,
                    f"Pushed {_plural(len(result.pushed), 'job')} to Redis: "
                    + _listing([f"#{job.jobman_id} ({job.type})" for job in result.pushed])
                    + ".",
                )
            )
        if result.unpushed:
            lines.append(
                (
                    messages.ERROR,
                    f"Redis could not take {_plural(len(result.unpushed), 'job')}; "
                    "they stay pending: "
                    + _listing([f"#{job.jobman_id}" for job in result.unpushed])
                    + ".",
                )
            )
        lines += _skipped_lines("job", result.skipped)
        return self.report(request, lines or [(messages.INFO, "Nothing to requeue.")])

    @admin.action(description="Cancel selected waiting jobs", permissions=["cancel"])
    def cancel_action(
        self, request: HttpRequest, queryset: QuerySet[Jobman]
    ) -> HttpResponseRedirect | None:
        ids = self.selected_ids(request, queryset)
        if ids is None:
            return None
        result = operations.cancel(ids)
        lines: list[tuple[int, str]] = []
        if result.cancelled:
            lines.append(
                (
                    messages.SUCCESS,
                    f"Cancelled {_plural(len(result.cancelled), 'job')}: "
                    + _listing(
                        [
                            f"#{job.jobman_id} ({job.type}, was {job.status})"
                            for job in result.cancelled
                        ]
                    )
                    + ".",
                )
            )
        lines += [(messages.WARNING, error) for error in result.rq_errors]
        lines += _skipped_lines("job", result.refused)
        if result.unknown:
            lines.append(
                (
                    messages.WARNING,
                    "No longer exist: " + _listing([f"#{pk}" for pk in result.unknown]) + ".",
                )
            )
        return self.report(request, lines or [(messages.INFO, "Nothing to cancel.")])

    def object_actions(self, request: HttpRequest, row: Jobman) -> list[dict[str, str]]:
        """The actions the change page offers as buttons for this row."""
        offered = []
        if row.status == JobStatus.FAILED and self.has_retry_permission(request):
            offered.append({"action": "retry_action", "label": "Retry"})
        if row.status == JobStatus.PENDING and self.has_requeue_permission(request):
            offered.append({"action": "requeue_action", "label": "Requeue"})
        if row.status in JobStatus.waiting() and self.has_cancel_permission(request):
            offered.append({"action": "cancel_action", "label": "Cancel"})
        return offered

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Jobman | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["jobman_object_actions"] = self.object_actions(request, obj)
            context["jobman_changelist_url"] = reverse(
                f"{self.admin_site.name}:jobman_jobman_changelist"
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


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


@admin.register(FailedJob)
class FailedJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "job", "job_type", "queue", "failed_at", "error")
    list_filter = (QueueFilter, FailedJobTypeFilter)
    search_fields = ("jobman__type", "jobman__error_message")
    search_help_text = (
        "An id (42 or #42) of a failed job or of its job, or text found in the type or the "
        "error message."
    )
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

    class Media:
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("jobman/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[FailedJob]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "jobman_failedjob_changelist":
            queryset = queryset.select_related("jobman").only(
                "id",
                "queue",
                "failed_at",
                "jobman__id",
                "jobman__type",
                "jobman__status",
                "jobman__error_message",
            )
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[FailedJob], search_term: str
    ) -> tuple[QuerySet[FailedJob], bool]:
        pk = _numeric_term(search_term)
        if pk is not None:
            return queryset.filter(Q(pk=pk) | Q(jobman_id=pk)), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="job", ordering="jobman_id")
    def job(self, failure: FailedJob) -> SafeString:
        url = reverse(f"{self.admin_site.name}:jobman_jobman_change", args=[failure.jobman_id])
        return format_html('<a href="{}">#{}</a>', url, failure.jobman_id)

    @admin.display(description="type")
    def job_type(self, failure: FailedJob) -> str:
        return failure.jobman.type

    @admin.display(description="error")
    def error(self, failure: FailedJob) -> str:
        return _first_line(failure.jobman.error_message)

    @admin.display(description="payload")
    def payload_display(self, failure: FailedJob) -> SafeString:
        return pretty_json(failure.payload)

    @admin.display(description="exception")
    def exception_display(self, failure: FailedJob) -> SafeString:
        return preformatted(failure.exception)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_RETRY)

    def has_forget_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_FORGET)

    @admin.action(description="Retry selected failed jobs", permissions=["retry"])
    def retry_action(
        self, request: HttpRequest, queryset: QuerySet[FailedJob]
    ) -> HttpResponseRedirect | None:
        ids = self.selected_ids(request, queryset)
        if ids is None:
            return None
        return self.report(request, _retry_lines(operations.retry(ids)))

    @admin.action(
        description="Forget selected failed jobs (their jobs stay failed)", permissions=["forget"]
    )
    def forget_action(
        self, request: HttpRequest, queryset: QuerySet[FailedJob]
    ) -> HttpResponseRedirect | None:
        ids = self.selected_ids(request, queryset)
        if ids is None:
            return None
        result = operations.forget(ids)
        lines: list[tuple[int, str]] = []
        if result.forgotten:
            lines.append(
                (
                    messages.SUCCESS,
                    f"Forgot {_plural(len(result.forgotten), 'failed job')}: "
                    + _listing([str(pk) for pk in result.forgotten])
                    + ".",
                )
            )
        if result.unknown:
            lines.append(
                (
                    messages.WARNING,
                    "No longer exist: " + _listing([str(pk) for pk in result.unknown]) + ".",
                )
            )
        return self.report(request, lines or [(messages.INFO, "Nothing to forget.")])
