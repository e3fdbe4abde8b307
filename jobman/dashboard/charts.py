"""Charts drawn on the server as inline SVG: nothing to load, nothing from elsewhere.

Every number a chart draws is also written on it as a ``data-`` attribute and in a
``<title>`` a pointer shows, so a person and a test read the same figures.
"""

from __future__ import annotations

import math

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from jobman.dashboard.figures import Minute

STATUS_COLOURS = {
    "pending": "#8a8f98",
    "queued": "#2f6fb3",
    "running": "#d98b14",
    "retrying": "#b8860b",
    "completed": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#5c6370",
}
COMPLETED_COLOUR = STATUS_COLOURS["completed"]
FAILED_COLOUR = STATUS_COLOURS["failed"]
PROGRESS_EMPTY_COLOUR = "#d5d8dc"


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value``."""
    if value <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _n(value: float) -> str:
    """A coordinate, to a tenth of a pixel."""
    return f"{value:.1f}".removesuffix(".0")


def job_progress_bar(percent: int, note: str = "", width: int = 120) -> SafeString:
    """A running job's own progress() as a bar: ``percent`` of it green."""
    title = f"{percent} %" + (f": {note}" if note else "")
    return progress_bar(100, 100 - percent, 0, width=width, title=title)


def throughput(minutes: list[Minute]) -> SafeString:
    """Jobs completed and failed per minute, as stacked bars, the oldest minute first."""
    width, height = 960, 220
    left, right, top, bottom = 44, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((m.completed + m.failed for m in minutes), default=0))
    slot = plot_w / max(len(minutes), 1)
    bar = max(slot * 0.75, 1.0)

    def y(value: int) -> float:
        return top + plot_h - plot_h * value / peak

    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="jobman-grid"/>'
        '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
        (
            (left, _n(y(value)), width - right, _n(y(value)), left - 6, _n(y(value)), value)
            for value in sorted({0, peak // 2, peak})
        ),
    )
    bars = format_html_join(
        "",
        '<g class="jobman-minute" data-minute="{}" data-completed="{}" data-failed="{}">'
        "<title>{}: {} completed, {} failed</title>"
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/></g>',
        (
            (
                m.start.isoformat(),
                m.completed,
                m.failed,
                timezone.localtime(m.start).strftime("%H:%M"),
                m.completed,
                m.failed,
                _n(left + i * slot),
                _n(y(m.completed)),
                _n(bar),
                _n(y(0) - y(m.completed)),
                COMPLETED_COLOUR,
                _n(left + i * slot),
                _n(y(m.completed + m.failed)),
                _n(bar),
                _n(y(m.completed) - y(m.completed + m.failed)),
                FAILED_COLOUR,
            )
            for i, m in enumerate(minutes)
        ),
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (
                _n(left + i * slot + bar / 2),
                height - 8,
                timezone.localtime(m.start).strftime("%H:%M"),
            )
            for i, m in enumerate(minutes)
            if i % 10 == 0 or i == len(minutes) - 1
        ),
    )
    return format_html(
        '<svg class="jobman-chart" id="jobman-throughput" viewBox="0 0 {} {}" width="{}" '
        'height="{}" role="img" aria-labelledby="jobman-throughput-title" data-peak="{}">'
        '<title id="jobman-throughput-title">'
        "Jobs completed and failed per minute, last {} minutes</title>"
        "{}{}{}</svg>",
        width,
        height,
        width,
        height,
        peak,
        len(minutes),
        grid,
        bars,
        labels,
    )


def status_bars(jobs: dict[str, int]) -> SafeString:
    """Rows by status, one horizontal bar each, its count written beside it."""
    row_h, label_w, count_w, width = 26, 90, 90, 520
    bar_w = width - label_w - count_w
    peak = max(jobs.values(), default=0) or 1
    height = row_h * len(jobs) + 4
    rows = format_html_join(
        "",
        '<g class="jobman-status-bar" data-status="{}" data-count="{}">'
        "<title>{}: {}</title>"
        '<text x="{}" y="{}" dominant-baseline="middle">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="{}"/>'
        '<text x="{}" y="{}" dominant-baseline="middle">{}</text></g>',
        (
            (
                status,
                count,
                status,
                count,
                0,
                _n(i * row_h + row_h / 2 + 2),
                status,
                label_w,
                i * row_h + 5,
                _n(max(bar_w * count / peak, 1 if count else 0)),
                row_h - 8,
                STATUS_COLOURS.get(status, "#888"),
                _n(label_w + bar_w * count / peak + 6),
                _n(i * row_h + row_h / 2 + 2),
                f"{count:,}",
            )
            for i, (status, count) in enumerate(jobs.items())
        ),
    )
    return format_html(
        '<svg class="jobman-chart" id="jobman-statuses" viewBox="0 0 {} {}" width="{}" height="{}" '
        'role="img" aria-labelledby="jobman-statuses-title">'
        '<title id="jobman-statuses-title">Jobs by status</title>{}</svg>',
        width,
        height,
        width,
        height,
        rows,
    )


def progress_bar(
    total: int,
    pending: int,
    failed: int,
    *,
    cancelled: bool = False,
    width: int = 120,
    title: str | None = None,
) -> SafeString:
    """A batch's progress: its finished jobs in green, its failed ones in red, the rest grey.

    In a cancelled batch most finished jobs were cancelled: they are drawn in that colour.
    ``title`` replaces what a pointer shows ("3 of 4 finished (75 %), 1 failed").
    """
    height = 10
    finished = max(total - pending, 0)
    failed = min(failed, finished)
    progress = 100 if not total else round(100 * finished / total)

    def w(count: int) -> str:
        return _n(width * count / total) if total else "0"

    return format_html(
        '<svg class="jobman-progress" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'data-progress="{}" data-total="{}" data-pending="{}" data-failed="{}">'
        "<title>{}</title>"
        '<rect width="{}" height="{}" rx="2" fill="{}"/>'
        '<rect width="{}" height="{}" rx="2" fill="{}"/>'
        '<rect x="{}" width="{}" height="{}" fill="{}"/></svg>',
        width,
        height,
        width,
        height,
        progress,
        total,
        pending,
        failed,
        title or f"{finished} of {total} finished ({progress} %), {failed} failed",
        width,
        height,
        PROGRESS_EMPTY_COLOUR,
        w(finished),
        height,
        STATUS_COLOURS["cancelled"] if cancelled else COMPLETED_COLOUR,
        w(finished - failed),
        w(failed),
        height,
        FAILED_COLOUR,
    )
