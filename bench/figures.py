"""How rounds become figures: medians, ratios, and alternating the two sides measured."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from typing import Any

from bench.common import SYSTEMS

# One measurement: jobs per second (wall clock), and CPU milliseconds per job spent by the
# processes the bench controls (the dispatching process, or the workers and work-horses;
# not the Redis or database servers).
Sample = tuple[float, float]


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def summary(values: list[float]) -> dict[str, Any]:
    return {"median": round(median(values), 1), "rounds": [round(v, 1) for v in values]}


def ratio(jobman: float, rq: float) -> float | None:
    return round(jobman / rq, 3) if rq else None


def alternate(
    rounds: int, measure: Callable[[str], Sample], labels: tuple[str, str] = SYSTEMS
) -> dict[str, Any]:
    """Measure both sides ``rounds`` times, alternating which goes first.

    ``ratio`` is the second side's median over the first's (jobman / bare RQ by default).
    """
    rates: dict[str, list[float]] = {label: [] for label in labels}
    cpus: dict[str, list[float]] = {label: [] for label in labels}
    for index in range(rounds):
        order = labels if index % 2 == 0 else tuple(reversed(labels))
        for label in order:
            rate, cpu = measure(label)
            rates[label].append(rate)
            cpus[label].append(cpu)
    result: dict[str, Any] = {}
    for label in labels:
        result[label] = summary(rates[label])
        result[label]["cpu_ms_per_job"] = round(median(cpus[label]), 3)
    first, second = labels
    result["ratio"] = ratio(result[second]["median"], result[first]["median"])
    # Above 1 when the second side spends less CPU per job than the first: like "ratio".
    result["cpu_ratio"] = ratio(result[first]["cpu_ms_per_job"], result[second]["cpu_ms_per_job"])
    return result
