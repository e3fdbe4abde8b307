"""The dashboard's views: the page, its figures as JSON, and its entry in the admin's index.

Served by ``JobmanAdmin.get_urls`` (``admin:jobman_dashboard`` and
``admin:jobman_dashboard_json``), so any admin site that registers jobman's admin serves
them, and the project's ``urls.py`` needs nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from jobman.dashboard import charts
from jobman.dashboard.figures import BATCH_STATE_COLOURS, BATCH_STATES, Figures, collect
from jobman.models import JobSchedule

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    from jobman.models import Jobman


def _check(model_admin: ModelAdmin[Jobman], request: HttpRequest) -> None:
    # The admin site has already sent anyone who is not active staff to its login page.
    if not model_admin.has_view_permission(request):
        raise PermissionDenied


def page(
    model_admin: ModelAdmin[Jobman], request: HttpRequest, queue_switch_url: str | None = None
) -> HttpResponse:
    """The dashboard page: figures as tables and server-drawn SVG charts; with
    ``queue_switch_url``, each queue's Pause or Resume button, posted there."""
    _check(model_admin, request)
    figures = collect()
    site = model_admin.admin_site
    opts = model_admin.model._meta
    context = {
        **site.each_context(request),
        "title": "Jobs dashboard",
        "opts": opts,
        "app_label": opts.app_label,
        "figures": figures,
        "throughput_chart": charts.throughput(figures.minutes),
        "status_chart": charts.status_bars(figures.jobs),
        "refresh": int(getattr(model_admin, "dashboard_refresh", 10)),
        "changelist_url": reverse(f"{site.name}:jobman_jobman_changelist"),
        "failedjob_changelist_url": reverse(f"{site.name}:jobman_failedjob_changelist"),
        "json_url": reverse(f"{site.name}:jobman_dashboard_json"),
        "batches": [
            {
                "figures": batch,
                "label": BATCH_STATES[batch.state],
                "colour": BATCH_STATE_COLOURS[batch.state],
                "bar": charts.progress_bar(
                    batch.total,
                    batch.pending,
                    batch.failed,
                    cancelled=batch.cancelled_at is not None,
                ),
            }
            for batch in figures.batches
        ],
        "batch_changelist_url": _url(site, "jobman_jobbatch_changelist"),
        "schedules": _schedules(site, figures),
        "schedule_changelist_url": _url(site, "jobman_jobschedule_changelist"),
        "queue_switch_url": queue_switch_url,
    }
    request.current_app = site.name
    return TemplateResponse(request, "jobman/dashboard.html", context)


def _url(site: AdminSite, name: str, *args: Any) -> str | None:
    """The URL of page ``name`` of ``site``, or None when that site does not serve it."""
    try:
        return reverse(f"{site.name}:{name}", args=args)
    except NoReverseMatch:
        return None


def _schedules(site: AdminSite, figures: Figures) -> list[dict[str, Any]]:
    """The schedules, each linked to its page; one with problems, never fired, to the list
    of schedules, which names them."""
    changelist = _url(site, "jobman_jobschedule_changelist")
    fine = [schedule.name for schedule in figures.schedules if not schedule.problems]
    pages = {}
    if changelist is not None and fine:
        states = JobSchedule.objects.filter(name__in=fine).values_list("name", "pk")
        pages = {name: _url(site, "jobman_jobschedule_change", pk) for name, pk in states}
    return [
        {"figures": schedule, "url": pages.get(schedule.name, changelist)}
        for schedule in figures.schedules
    ]


def figures_json(model_admin: ModelAdmin[Jobman], request: HttpRequest) -> HttpResponse:
    """The dashboard's figures as JSON, for monitoring."""
    _check(model_admin, request)
    return JsonResponse(collect().as_dict(), encoder=DjangoJSONEncoder)


def _may_view(request: HttpRequest) -> bool:
    user = request.user
    return user.has_perm("jobman.view_jobman") or user.has_perm("jobman.change_jobman")


def link_from_index(site: AdminSite) -> None:
    """List the dashboard with jobman's models on ``site``'s index and in its sidebar.

    The admin builds that list from registered models only, so the site's
    ``get_app_list`` is wrapped, once, to add an entry for people who may see it.
    """
    if getattr(site, "_jobman_dashboard_listed", False):
        return
    build = site.get_app_list

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list = build(request, app_label)
        for app in app_list:
            if app.get("app_label") != "jobman" or not _may_view(request):
                continue
            try:
                url = reverse(f"{site.name}:jobman_dashboard", current_app=site.name)
            except NoReverseMatch:
                continue
            app["models"].insert(
                0,
                {
                    "name": "Dashboard",
                    "object_name": "Dashboard",
                    "perms": {"add": False, "change": False, "delete": False, "view": True},
                    "admin_url": url,
                    "add_url": None,
                    "view_only": True,
                },
            )
        return app_list

    site.get_app_list = get_app_list  # type: ignore[method-assign]
    site._jobman_dashboard_listed = True  # type: ignore[attr-defined]
