"""The dashboard's Pause and Resume of a queue: posted from its Queues table, done through
operations, under the permission ``jobman.pause_queues``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse

from jobman import bounds, operations
from jobman.admin.base import PERMISSION_PAUSE_QUEUES, done_lines, outcome_lines

if TYPE_CHECKING:
    from jobman.admin.base import ReadOnlyAdmin

# What the form's ``action`` may ask: the operation, and the verb its message starts with.
SWITCHES: dict[str, tuple[Callable[[Iterable[str]], operations.NamedResult[str]], str]] = {
    "pause": (operations.pause_queues, "Paused"),
    "resume": (operations.resume_queues, "Resumed"),
}


def may_pause(request: HttpRequest) -> bool:
    return request.user.has_perm(PERMISSION_PAUSE_QUEUES)


def switch_view(model_admin: ReadOnlyAdmin, request: HttpRequest) -> HttpResponse:
    """Pause or resume the posted ``queue``, say what came of it, and go back to the
    dashboard."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not may_pause(request):
        raise PermissionDenied
    back = HttpResponseRedirect(reverse(f"{model_admin.admin_site.name}:jobman_dashboard"))
    action = request.POST.get("action", "")
    if action not in SWITCHES:
        model_admin.message_user(
            request,
            f"No queue changed: the action must be pause or resume, not {bounds.quoted(action)}.",
            messages.ERROR,
        )
        return back
    operation, verb = SWITCHES[action]
    result = operation([request.POST.get("queue", "")])
    for level, text in lines(verb, result):
        model_admin.message_user(request, text, level)
    return back


def lines(verb: str, result: operations.NamedResult[Any]) -> list[tuple[int, str]]:
    """``Paused 1 queue: high``, then the skipped, those not configured and Redis errors."""
    said = done_lines(f"{verb} {{}}", list(result.done), "queue")
    said += outcome_lines(
        operations.NamedResult(
            result.of,
            skipped=result.skipped,
            unknown=[bounds.quoted(name) for name in result.unknown],
            warnings=result.warnings,
        ),
        "queue",
        "Not in settings.RQ_QUEUES: ",
    )
    return said + [(messages.ERROR, error) for error in result.errors]
