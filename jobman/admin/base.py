"""The read-only base of jobman's admins: nothing added, edited or deleted; bounded
counts and ids; actions that report what they did, through ``operations``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from jobman import bounds, operations
from jobman.admin.changelist import PAGES_AHEAD, BoundedChangeList, BoundedCountPaginator
from jobman.admin.display import (
    listing,
    named,
)
from jobman.words import plural

T = TypeVar("T")

# Rows one action may act on. Beyond it the action changes nothing and points to the
# commands, which work in batches outside a web request.
ACTION_LIMIT = 1000

# A row's page posts its buttons to the changelist's actions with this field, to come back.
NEXT_FIELD = "_jobman_next"

PERMISSION_RETRY = "jobman.retry_jobman"
PERMISSION_REQUEUE = "jobman.requeue_jobman"
PERMISSION_CANCEL = "jobman.cancel_jobman"
PERMISSION_FORGET = "jobman.forget_failedjob"
PERMISSION_PAUSE = "jobman.pause_jobschedule"
PERMISSION_PAUSE_QUEUES = "jobman.pause_queues"


def numeric_term(search_term: str) -> int | None:
    """The id a search term names (``42`` or ``#42``), if it names one."""
    term = search_term.strip().removeprefix("#")
    try:
        return bounds.row_id(term)
    except ValueError:
        return None


# Not ``ModelAdmin[M]``: the admin's classes take no type arguments at run time.
class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows are history: nobody adds, edits or deletes them here."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    list_max_show_all = 200
    actions_on_bottom = True
    # What a search for an id (42 or #42) matches; other text goes to search_fields. Empty:
    # the rows have no id a person knows, and every term goes to search_fields.
    id_lookups: ClassVar[tuple[str, ...]] = ("pk",)

    class Media:
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("jobman/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        opts = self.model._meta
        if match is not None and match.url_name == f"{opts.app_label}_{opts.model_name}_changelist":
            return self.changelist_queryset(queryset)
        return queryset

    def changelist_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """The changelist's rows: by default every column; an admin defers the large ones."""
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """An id goes straight to its row; anything else is looked for in search_fields."""
        pk = numeric_term(search_term) if self.id_lookups else None
        if pk is None:
            return super().get_search_results(request, queryset, search_term)
        matches = Q()
        for lookup in self.id_lookups:
            matches |= Q(**{lookup: pk})
        return queryset.filter(matches), False

    # One permission per action, each granted on its own; Django asks only for those an
    # admin's actions name.

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_RETRY)

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_REQUEUE)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_CANCEL)

    def has_forget_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_FORGET)

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION_PAUSE)

    def object_actions(self, request: HttpRequest, obj: Any) -> list[dict[str, str]]:
        """The actions an object's page offers as buttons (posted to the changelist)."""
        return []

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None:
            opts = self.model._meta
            context["jobman_object_actions"] = self.object_actions(request, obj)
            context["jobman_action_url"] = reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist"
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

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

    def run_action(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        operation: Callable[[list[int]], T],
        lines: Callable[[T], list[tuple[int, str]]],
        nothing: str = "Nothing to do.",
    ) -> HttpResponseRedirect | None:
        """An action: ``operation`` on the selected ids, then its ``lines`` (or ``nothing``)
        as messages."""
        ids = self.selected_ids(request, queryset)
        if ids is None:
            return None
        return self.report(request, lines(operation(ids)) or [(messages.INFO, nothing)])

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


# An admin action as the admin calls it: with itself, the request and the selected rows.
Action = Callable[[ReadOnlyAdmin, HttpRequest, QuerySet[Any]], HttpResponseRedirect | None]


def operation_action(
    description: str,
    permission: str,
    operation: Callable[[list[int]], T],
    lines: Callable[[T], list[tuple[int, str]]],
) -> Action:
    """An action that runs ``operation`` on the selected ids and says its ``lines`` (or
    "Nothing to retry.", of a ``retry`` one); offered to those who have ``permission``
    (``retry``: ``has_retry_permission``)."""

    @admin.action(description=description, permissions=[permission])
    def action(
        model_admin: ReadOnlyAdmin, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponseRedirect | None:
        return model_admin.run_action(
            request, queryset, operation, lines, f"Nothing to {permission}."
        )

    return action


def outcome_lines(
    result: operations.Outcome[Any, Any], what: str, gone: str = "No longer exist: "
) -> list[tuple[int, str]]:
    """What every action says after what it did: warnings, the skipped, and the unknown
    ids, after ``gone``."""
    lines = [(messages.WARNING, warning) for warning in result.warnings]
    if result.skipped:
        reasons = [item.reason for item in result.skipped]
        lines.append(
            (messages.WARNING, f"Skipped {plural(len(reasons), what)}: {listing(reasons)}.")
        )
    if result.unknown:
        prefix = "#" if result.of == "jobman" else ""
        lines.append(named(messages.WARNING, gone, [f"{prefix}{pk}" for pk in result.unknown]))
    return lines


def done_lines(verb: str, labels: list[str], what: str = "job") -> list[tuple[int, str]]:
    """``Cancelled 2 jobs: #4 (...), #5 (...)``, or nothing when nothing was done."""
    if not labels:
        return []
    return [named(messages.SUCCESS, f"{verb.format(plural(len(labels), what))}: ", labels)]


def unpushed_lines(level: int, text: str, jobs: Sequence[Any]) -> list[tuple[int, str]]:
    """The jobs Redis could not take, by id: ``text`` is formatted with their count."""
    if not jobs:
        return []
    return [
        named(level, text.format(plural(len(jobs), "job")), [f"#{job.jobman_id}" for job in jobs])
    ]


def retry_lines(result: operations.Result[operations.RetriedJob]) -> list[tuple[int, str]]:
    lines = done_lines(
        "Retried {}", [f"#{job.jobman_id} ({job.type})" for job in operations.pushed(result)]
    )
    lines += unpushed_lines(
        messages.WARNING,
        "{} will run again but Redis could not take them now; they wait as pending until "
        "`manage.py jobman_requeue_unpushed` pushes them: ",
        result.unpushed,
    )
    return lines + outcome_lines(result, "job") or [(messages.INFO, "Nothing to retry.")]
