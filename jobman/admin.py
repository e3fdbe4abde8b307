"""The admin: a read-only history of every job and batch, actions that go through ``operations``.

Built for tables of millions of rows: the changelist never counts the whole table, its
filters take their choices from the job registry and ``RQ_QUEUES`` instead of a
``SELECT DISTINCT``, the date hierarchy reads only the first and last date, and the
columns it sorts by are indexed. Rows are never edited or deleted here: retrying,
requeueing, cancelling and forgetting call the same functions as the commands.
"""

from __future__ import annotations

import calendar
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, URLPattern, path, reverse
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

from jobman import bounds, dashboard, operations, queues, registry
from jobman.dashboard import charts
from jobman.dashboard.figures import BATCH_STATE_COLOURS, BATCH_STATES, batch_state
from jobman.jobs import JobmanJob
from jobman.models import FailedJob, JobBatch, Jobman, JobStatus

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

# Rows one action may act on. Beyond it the action changes nothing and points to the
# commands, which work in batches outside a web request.
ACTION_LIMIT = 1000

# Rows an action's message names one by one; the rest are counted.
MESSAGE_LIST_LIMIT = 10

# How many pages past the current one the changelist counts rows for. The count stops
# there, so a page of a million-row table costs a bounded count, not a full one.
PAGES_AHEAD = 10

# Characters of a JSON value (attribs, a failure's payload) a page shows; the rest is a link.
JSON_SHOWN_CHARS = 64 * 1024

# Columns the changelist does not show and that can be large.
HEAVY_FIELDS = ("attribs", "logs", "error_message", "exception")

# A row's page posts its buttons to the changelist's actions with this field, to come back.
NEXT_FIELD = "_jobman_next"

# Steps of a chain a job's page lists, around its own; jobs a batch's page lists. Each is
# one query with this limit, however long the chain or large the batch.
CHAIN_STEPS_SHOWN = 100
BATCH_JOBS_SHOWN = 100

# The Controls fieldset of a job's page: each field shows only on the rows it concerns.
CONTROL_FIELDS = ("delay_display", "unique_display", "chain_display", "batch_display")

# What the chain writes in the logs of a step it cancels (see followups).
CHAIN_CANCEL_NOTE = "cancelled: step "

# The date hierarchy's query parameters, after the field's name.
DATE_PARTS = ("year", "month", "day")

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

    def get_filters(self, request: HttpRequest) -> Any:
        """Django's filters, once every value can be sent to the database (PostgreSQL
        refuses NUL) and the date hierarchy's parts name a date ``datetime`` can hold with a
        day and a year to spare (Django's own parsing lets a huge year crash)."""
        params = self.get_filters_params()
        for name, values in [*params.items(), ("q", [self.query])]:
            for value in values if isinstance(values, list) else [values]:
                if "\x00" in str(value):
                    raise IncorrectLookupParameters(f"{name} holds a NUL character")
        if self.date_hierarchy:
            parts = [params.get(f"{self.date_hierarchy}__{part}") for part in DATE_PARTS]
            if any(parts):
                try:
                    bounds.calendar_date(*(value[-1] if value else None for value in parts))
                except ValueError as error:
                    raise IncorrectLookupParameters(error) from None
        return super().get_filters(request)

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


class LinkedFilter(admin.SimpleListFilter):
    """The jobs of one batch or chain, as linked from its page; offered only when chosen,
    so it costs no query."""

    field: str  # the column filtered on

    def label(self, value: str) -> str:
        raise NotImplementedError

    def parse(self, value: str) -> object:
        """The value to filter on; IncorrectLookupParameters when it is not one."""
        raise NotImplementedError

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        chosen = self.value()
        return [(chosen, self.label(chosen))] if chosen else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(**{self.field: self.parse(value)})


class BatchFilter(LinkedFilter):
    title = "batch"
    parameter_name = "batch__id__exact"
    field = "batch_id"

    def label(self, value: str) -> str:
        return f"batch {value}"

    def parse(self, value: str) -> object:
        try:
            return bounds.row_id(value)
        except ValueError as error:
            raise IncorrectLookupParameters(f"not a batch id: {error}") from None


class ChainFilter(LinkedFilter):
    title = "chain"
    parameter_name = "chain_id__exact"
    field = "chain_id"

    def label(self, value: str) -> str:
        return f"chain {value[:8]}"

    def parse(self, value: str) -> object:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise IncorrectLookupParameters(f"not a chain id: {value!r}") from None


class BatchStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return list(BATCH_STATES.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "cancelled":
            return queryset.filter(cancelled_at__isnull=False)
        if value == "running":
            return queryset.filter(cancelled_at__isnull=True, finished_at__isnull=True)
        if value == "completed":
            return queryset.filter(cancelled_at__isnull=True, finished_at__isnull=False, failed=0)
        if value == "failed":
            return queryset.filter(
                cancelled_at__isnull=True, finished_at__isnull=False, failed__gt=0
            )
        return queryset


# Display helpers


def pretty_json(
    value: Any, whole_url: str | None = None, whole: str = "The whole value, as JSON"
) -> SafeString:
    """``value`` as indented JSON; past ``JSON_SHOWN_CHARS`` cut, with a link to the whole."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) <= JSON_SHOWN_CHARS:
        return format_html('<pre class="jobman-pre">{}</pre>', text)
    note = f"cut: the first {JSON_SHOWN_CHARS:,} of {len(text):,} characters are shown."
    link = format_html(' <a href="{}">{}</a>.', whole_url, whole) if whole_url else ""
    return format_html(
        '<pre class="jobman-pre">{}\n…</pre><p class="jobman-note">{}{}</p>',
        text[:JSON_SHOWN_CHARS],
        note,
        link,
    )


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


def format_span(seconds: float) -> str:
    """A span of time to the second: ``30 s``, ``4 min 05 s``, ``2 h 03 min``, ``3 d 04 h``."""
    whole = round(abs(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600:02d} h"


def moment(when: datetime) -> SafeString:
    return format_html('<time datetime="{}">{}</time>', when.isoformat(), _when(when))


def batch_badge(batch: JobBatch) -> SafeString:
    state = batch_state(batch)
    return format_html(
        '<span class="jobman-status jobman-status-{}" data-state="{}">{}</span>',
        BATCH_STATE_COLOURS[state],
        state,
        BATCH_STATES[state],
    )


def batch_progress(batch: JobBatch) -> SafeString:
    """The bar, then the figures it draws."""
    finished = batch.total - batch.pending
    failed = format_html(", {} failed", batch.failed) if batch.failed else ""
    return format_html(
        '<span class="jobman-progress-box">{} <span class="jobman-progress-text">'
        "{} of {} finished ({} %){}</span></span>",
        charts.progress_bar(
            batch.total, batch.pending, batch.failed, cancelled=batch.cancelled_at is not None
        ),
        finished,
        batch.total,
        batch.progress,
        failed,
    )


def batch_label(batch: JobBatch) -> str:
    return f"batch {batch.pk}" + (f" {batch.name!r}" if batch.name else "")


def admin_url(site: admin.AdminSite, name: str, *args: Any, query: str = "") -> str | None:
    """The URL of page ``name`` of ``site``, or None when that site does not serve it."""
    try:
        url = reverse(f"{site.name}:{name}", args=args, current_app=site.name)
    except NoReverseMatch:
        return None
    return url + query


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
    try:
        return bounds.row_id(term)
    except ValueError:
        return None


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

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        """The row a page's URL names, or None (Django's "does not exist") when the URL
        holds no storable id: the database is never asked for one it cannot hold."""
        from_field = from_field or None  # "?_to_field=" names no field
        if from_field in (None, self.model._meta.pk.name):
            try:
                bounds.row_id(object_id)
            except ValueError:
                return None
        return super().get_object(request, object_id, from_field)

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator:  # type: ignore[type-arg]
        try:
            page = bounds.count(request.GET.get("p", "1"))
        except ValueError:
            page = 1  # a page past the count is then Django's to refuse (?e=1)
        limit = max((page + PAGES_AHEAD) * per_page, self.list_max_show_all)
        return BoundedCountPaginator(
            queryset,
            per_page,
            limit=limit,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
        )

    def response_action(  # type: ignore[override]  # Django 6 adds action_location
        self, request: HttpRequest, queryset: QuerySet[Any], **kwargs: Any
    ) -> HttpResponse | None:
        """Run the chosen action, once every selected value is an id; else change nothing."""
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                bounds.row_id(value)
            except ValueError as error:
                self.message_user(
                    request,
                    f"Nothing was changed: a selected value is not a row id ({error}).",
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset, **kwargs)

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
    list_filter = ("status", JobTypeFilter, QueueFilter, EverFailedFilter, BatchFilter, ChainFilter)
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
        *CONTROL_FIELDS,
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
            path(
                "<path:object_id>/attribs.json",
                wrap(self.attribs_json_view),
                name="jobman_jobman_attribs",
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        return dashboard.page(self, request)

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
        return pretty_json(row.attribs, admin_url(self.admin_site, "jobman_jobman_attribs", row.pk))

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

    # Controls

    @admin.display(description="delay")
    def delay_display(self, row: Jobman) -> SafeString | str:
        """When the row may start: a dispatch's delay, a retry's backoff, or a release."""
        at = row.available_at
        if at is None:
            return "-"
        after = format_span((at - row.created_at).total_seconds())
        ahead = (at - timezone.now()).total_seconds()
        if row.status in JobStatus.waiting() and ahead > 0:
            what = "Next attempt" if row.status == JobStatus.RETRYING else "Runs"
            return format_html(
                '<span class="jobman-delay">{} not before {} (in {}), {} after dispatch.</span>',
                what,
                moment(at),
                format_span(ahead),
                after,
            )
        return format_html(
            '<span class="jobman-delay">Held until {}, {} after dispatch.</span>', moment(at), after
        )

    @admin.display(description="unique")
    def unique_display(self, row: Jobman) -> SafeString | str:
        job_class = _unique_class(row)
        if job_class is None and row.unique_key is None:
            return "-"
        rule = ""
        if job_class is not None:
            until = "starts" if job_class.unique_until == "processing" else "finishes"
            rule = f"unique per unique id until it {until}"
            if job_class.unique_for is not None:
                rule += f", for {format_span(job_class.unique_for)} after dispatch at most"
        if row.unique_key is None:
            return format_html(
                '<span class="jobman-unique">Not held: another job of this type with the same '
                "unique id may be dispatched ({}).</span>",
                rule,
            )
        expiry: SafeString | str = ""
        if job_class is not None and job_class.unique_for is not None:
            ends = row.created_at + timedelta(seconds=job_class.unique_for)
            expiry = format_html(
                " It {} at {}{}.",
                "expired" if ends <= timezone.now() else "expires",
                moment(ends),
                ": the next dispatch takes it over" if ends <= timezone.now() else "",
            )
        return format_html(
            '<span class="jobman-unique"><code>{}</code> held: dispatching {} with this unique '
            "id returns this job{}.{}</span>",
            row.unique_key,
            row.type,
            f" ({rule})" if rule else "",
            expiry,
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
        total = f"more than {last + 1}" if more else str(last + 1)
        site = self.admin_site
        items = []
        for pk, step, job_type, status in steps:
            current = pk == row.pk
            url = None if current else admin_url(site, "jobman_jobman_change", pk)
            label = (
                format_html("#{}", pk)
                if url is None
                else format_html('<a href="{}">#{}</a>', url, pk)
            )
            items.append(
                format_html(
                    '<li value="{}" class="jobman-chain-step{}" data-jobman-id="{}"{}>'
                    "{} {} {}{}</li>",
                    (step or 0) + 1,
                    " jobman-current" if current else "",
                    pk,
                    mark_safe(' aria-current="step"') if current else "",
                    label,
                    job_type,
                    status_badge(status),
                    mark_safe(" <strong>this job</strong>") if current else "",
                )
            )
        parts = [
            format_html(
                '<p class="jobman-chain-position">Step {} of {} of chain <code>{}</code>.</p>',
                position + 1,
                total,
                row.chain_id,
            )
        ]
        if start:
            parts.append(format_html('<p class="jobman-muted">Steps 1 to {} not shown.</p>', start))
        parts.append(format_html('<ol class="jobman-chain">{}</ol>', mark_safe("".join(items))))
        if more:
            parts.append(format_html('<p class="jobman-muted">{}</p>', "Later steps not shown."))
        if row.status == JobStatus.CANCELLED:
            reason = _chain_cancel_reason(row.logs)
            if reason:
                parts.append(format_html('<p class="jobman-chain-reason">Why: {}</p>', reason))
        listing = admin_url(
            site, "jobman_jobman_changelist", query=f"?{ChainFilter.parameter_name}={row.chain_id}"
        )
        if listing is not None:
            parts.append(format_html('<p><a href="{}">All its steps in the list</a></p>', listing))
        return mark_safe("".join(parts))

    @admin.display(description="batch")
    def batch_display(self, row: Jobman) -> SafeString | str:
        found = self._batch_of(row)
        if found is None:
            return "-"
        batch, callback = found
        site = self.admin_site
        url = admin_url(site, "jobman_jobbatch_change", batch.pk)
        name = batch_label(batch)
        link = format_html('<a href="{}">{}</a>', url, name) if url is not None else name
        if callback is not None:
            return format_html(
                '<span class="jobman-batch">The {} callback of {} {}.</span>',
                callback,
                link,
                batch_badge(batch),
            )
        listing = admin_url(
            site, "jobman_jobman_changelist", query=f"?{BatchFilter.parameter_name}={batch.pk}"
        )
        jobs = (
            format_html(' <a href="{}">All its jobs in the list</a>', listing)
            if listing is not None
            else ""
        )
        return format_html(
            '<p class="jobman-batch">{} {}</p><p>{}</p><p>{}</p>',
            link,
            batch_badge(batch),
            batch_progress(batch),
            jobs,
        )

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
            context["jobman_action_url"] = reverse(
                f"{self.admin_site.name}:jobman_jobman_changelist"
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


def _unique_class(row: Jobman) -> type[JobmanJob] | None:
    """The row's job class, when it makes its jobs unique."""
    job_class = registry.find(row.type)
    if job_class is None or job_class.unique_id is JobmanJob.unique_id:
        return None
    return job_class


def _chain_cancel_reason(logs: str) -> str:
    """The note the chain wrote when it cancelled this step, without its timestamp."""
    for line in reversed(logs.splitlines()):
        at = line.find(CHAIN_CANCEL_NOTE)
        if at >= 0:
            return line[at:]
    return ""


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
        attribs = admin_url(self.admin_site, "jobman_jobman_attribs", failure.jobman_id)
        return pretty_json(failure.payload, attribs, "The job's attribs, as JSON")

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


# Batches


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

    class Media:
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("jobman/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[JobBatch]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "jobman_jobbatch_changelist":
            queryset = queryset.defer("callbacks")
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[JobBatch], search_term: str
    ) -> tuple[QuerySet[JobBatch], bool]:
        pk = _numeric_term(search_term)
        if pk is not None:
            return queryset.filter(pk=pk), False
        return super().get_search_results(request, queryset, search_term)

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
        return _when(batch.created_at)

    @admin.display(description="finished")
    def finished(self, batch: JobBatch) -> str:
        return _when(batch.finished_at)

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

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_CANCEL)

    @admin.action(
        description="Cancel selected batches (their waiting jobs)", permissions=["cancel"]
    )
    def cancel_batch_action(
        self, request: HttpRequest, queryset: QuerySet[JobBatch]
    ) -> HttpResponseRedirect | None:
        ids = self.selected_ids(request, queryset)
        if ids is None:
            return None
        result = operations.cancel_batches(ids)
        lines: list[tuple[int, str]] = []
        if result.cancelled:
            described = []
            for batch in result.cancelled:
                text = f"{batch.batch_id}" + (f" ({batch.name})" if batch.name else "")
                text += f": {_plural(batch.cancelled, 'waiting job')} cancelled"
                if batch.unfinished:
                    text += f", {batch.unfinished} still running"
                described.append(text)
            count = len(result.cancelled)
            lines.append(
                (
                    messages.SUCCESS,
                    f"Cancelled {count} {'batch' if count == 1 else 'batches'}: "
                    f"{_listing(described)}.",
                )
            )
        lines += [(messages.WARNING, error) for error in result.rq_errors]
        lines += _skipped_lines("batch", result.refused)
        if result.unknown:
            lines.append(
                (
                    messages.WARNING,
                    "No longer exist: " + _listing([str(pk) for pk in result.unknown]) + ".",
                )
            )
        return self.report(request, lines or [(messages.INFO, "Nothing to cancel.")])

    def object_actions(self, request: HttpRequest, batch: JobBatch) -> list[dict[str, str]]:
        if batch.finished_at is None and self.has_cancel_permission(request):
            return [{"action": "cancel_batch_action", "label": "Cancel batch"}]
        return []

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: JobBatch | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["jobman_object_actions"] = self.object_actions(request, obj)
            context["jobman_action_url"] = reverse(
                f"{self.admin_site.name}:jobman_jobbatch_changelist"
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


def _callback_state(batch: JobBatch, which: str) -> str:
    """Whether a batch's callback has been dispatched, will be, or will not be."""
    if which == "catch":
        if batch.first_failed_at is not None:
            return f"dispatched at {_when(batch.first_failed_at)}, at the first failure"
        if batch.finished_at is not None:
            return "not sent: no job failed"
        return "not yet: sent at the first failure"
    if batch.finished_at is None:
        return "not yet: sent when every job has finished" + (
            ", if all completed" if which == "then" else ""
        )
    if which == "finally":
        return f"dispatched at {_when(batch.finished_at)}"
    if batch.cancelled_at is not None:
        return "not sent: the batch was cancelled"
    if batch.failed:
        return "not sent: a job failed"
    return f"dispatched at {_when(batch.finished_at)}"
