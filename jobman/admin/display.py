"""How the admin shows values: JSON, preformatted text, badges, times and durations."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from jobman import words
from jobman.dashboard import charts
from jobman.dashboard.figures import BATCH_STATE_COLOURS, BATCH_STATES, batch_state
from jobman.models import JobBatch, Jobman, JobStatus

# Rows an action's message names one by one; the rest are counted.
MESSAGE_LIST_LIMIT = 10

# Characters of a JSON value (attribs, a failure's payload) a page shows; the rest is a link.
JSON_SHOWN_CHARS = 64 * 1024

# Field templates: each field's HTML is a template in this folder, rendered with
# autoescaping, so every value a row holds is escaped there.
FIELD_TEMPLATES = "admin/jobman/fields"

# Display helpers


def field(
    description: str, show: Callable[[Any], object], ordering: str | None = None
) -> Callable[[Any, Any], object]:
    """A display method (a column, a read-only field) that shows ``show(row)``."""

    @admin.display(description=description, ordering=ordering)
    def display(model_admin: Any, row: Any) -> object:
        return show(row)

    return display


def render_field(name: str, **context: Any) -> SafeString:
    """The field template ``name`` rendered with ``context``, without the white space
    around it (the line of its opening comment, its final newline)."""
    html = render_to_string(f"{FIELD_TEMPLATES}/{name}.html", context)
    return mark_safe(html.strip())  # stripping white space keeps the template's escaping


def pretty_json(
    value: Any, whole_url: str | None = None, whole: str = "The whole value, as JSON"
) -> SafeString:
    """``value`` as indented JSON; past ``JSON_SHOWN_CHARS`` cut, with a link to the whole."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return render_field(
        "pretty_json",
        text=text[:JSON_SHOWN_CHARS],
        cut=len(text) > JSON_SHOWN_CHARS,
        shown=f"{JSON_SHOWN_CHARS:,}",
        length=f"{len(text):,}",
        whole_url=whole_url,
        whole=whole,
    )


def empty(text: str) -> SafeString:
    """What a field shows when it has nothing to show."""
    return format_html('<span class="jobman-empty">{}</span>', text)


def preformatted(text: str | None, empty_text: str = "-") -> SafeString:
    """``text`` escaped inside ``<pre>``: a traceback keeps its lines and indentation."""
    if not text:
        return empty(empty_text)
    return format_html('<pre class="jobman-pre">{}</pre>', text)


def status_badge(status: str) -> SafeString:
    label = JobStatus(status).label if status in JobStatus.values else status
    return format_html('<span class="jobman-status jobman-status-{}">{}</span>', status, label)


def link(url: str | None, text: object) -> SafeString:
    """``text`` as a link to ``url``; as plain text where the site serves no such page."""
    if url is None:
        return format_html("{}", text)
    return format_html('<a href="{}">{}</a>', url, text)


def event_timeline(
    events: Iterable[tuple[datetime, str, str]], took: float | None = None
) -> SafeString:
    """Events ``(when, kind, note)`` in the order they happened, then how long the last
    attempt took, when known."""
    ordered = sorted(events, key=lambda event: event[0])
    return render_field(
        "timeline",
        events=[
            {"moment": moment(when), "kind": kind, "slug": kind.replace(" ", "-"), "note": note}
            for when, kind, note in ordered
        ],
        took=format_seconds(took) if took is not None else None,
    )


def format_seconds(seconds: float | None) -> str:
    """A duration as a person reads it: ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return words.span(int(seconds))


def moment(when: datetime) -> SafeString:
    return format_html('<time datetime="{}">{}</time>', when.isoformat(), local_time(when))


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
    return render_field(
        "batch_progress",
        bar=charts.progress_bar(
            batch.total, batch.pending, batch.failed, cancelled=batch.cancelled_at is not None
        ),
        finished=batch.total - batch.pending,
        total=batch.total,
        progress=batch.progress,
        failed=batch.failed,
    )


def job_progress(row: Jobman) -> SafeString:
    """A job's own progress(): its bar, per cent and note; "-" when it reported none."""
    if row.progress is None:
        return empty("-")
    return render_field(
        "progress",
        bar=charts.job_progress_bar(row.progress, row.progress_note),
        percent=row.progress,
        note=row.progress_note,
    )


# How the timeline names the end of an attempt that did not complete, by its outcome.
ATTEMPT_ENDS = {
    "failed": "attempt failed",
    "timed out": "attempt timed out",
    "lost": "worker lost",
    "stopped": "stopped",
    "released": "released",
}
# The outcomes of a failed attempt: the last of a failed job ends the job.
FAILURES = ("failed", "timed out", "lost")


def attempt_events(row: Jobman) -> list[tuple[datetime, str, str]]:
    """The timeline's events of every attempt: those ``history`` keeps, then the last one
    (unless history holds it), from the row's own columns."""
    events: list[tuple[datetime, str, str]] = []
    entries = [entry for entry in row.history or [] if isinstance(entry, dict)]
    covered = False
    left_out = 0
    for position, entry in enumerate(entries):
        if entry.get("outcome") == "omitted":
            left_out = int(entry.get("count") or 0)
            continue
        started, ended = _instant(entry.get("started_at")), _instant(entry.get("ended_at"))
        attempt = entry.get("attempt")
        outcome = str(entry.get("outcome", ""))
        last = position == len(entries) - 1
        if attempt == row.attempts and outcome != "released":
            covered = True
        if started is not None:
            note = f"attempt {attempt} of {row.max_tries}"
            if entry.get("worker"):
                note += f" on {entry['worker']}"
            if left_out:
                note += f" ({left_out} earlier attempts not shown)"
                left_out = 0
            events.append((started, "started", note))
        if ended is not None:
            kind = ATTEMPT_ENDS.get(outcome, outcome)
            if (
                last
                and row.status == JobStatus.FAILED
                and outcome in ("failed", "timed out", "lost")
            ):
                kind = "failed"
            events.append((ended, kind, first_line(entry.get("error"))))
    if row.started_at and not covered:
        note = f"attempt {row.attempts} of {row.max_tries}"
        if row.worker:
            note += f" on {row.worker}"
        events.append((row.started_at, "started", note))
    if row.failed_at and not entries:
        kind = "failed" if row.status == JobStatus.FAILED else "attempt failed"
        events.append((row.failed_at, kind, first_line(row.error_message)))
    return events


def _instant(value: Any) -> datetime | None:
    """A time ``history`` keeps (ISO text), or None when it holds none it can read."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


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


def local_time(moment: datetime | None) -> str:
    """A moment in the current time zone, to the second: jobs take seconds, not minutes."""
    if moment is None:
        return "-"
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return formats.date_format(local, "Y-m-d H:i:s")


def first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def listing(items: Sequence[str]) -> str:
    return words.listing(items, MESSAGE_LIST_LIMIT)


def named(level: int, head: str, items: Sequence[str]) -> tuple[int, str]:
    """A message of an action: ``head`` (ending with ": "), then the items it names."""
    return level, f"{head}{listing(items)}."
