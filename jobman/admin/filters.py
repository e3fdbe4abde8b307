"""List filters whose choices cost no query: from the registry, RQ_QUEUES, or the link
followed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from jobman import bounds, queues, registry, schedules
from jobman.dashboard.figures import BATCH_STATES

# Filters whose choices cost no query


class KnownNamesFilter(admin.SimpleListFilter):
    """Choices from configuration, not from the rows (a ``SELECT DISTINCT`` would read every
    row), with the chosen one kept: a name no longer configured, reached by a link."""

    field_path: str  # the column filtered on
    known: Callable[[], Iterable[str]]  # the configured names

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        names = set(self.known())
        chosen = self.value()
        if chosen:
            names.add(chosen)
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field_path: value}) if value else queryset


class JobTypeFilter(KnownNamesFilter):
    title = parameter_name = field_path = "type"
    known = staticmethod(registry.all_types)


class FailedJobTypeFilter(JobTypeFilter):
    field_path = "jobman__type"


class QueueFilter(KnownNamesFilter):
    title = parameter_name = field_path = "queue"
    known = staticmethod(queues.configured_queues)


def schedule_names() -> list[str]:
    return [schedule.name for schedule in schedules.configured()]


class ScheduleFilter(KnownNamesFilter):
    """The runs of one schedule, as linked from its page."""

    title = parameter_name = field_path = "schedule"
    known = staticmethod(schedule_names)


class ChoicesFilter(admin.SimpleListFilter):
    """Fixed choices: ``conditions`` gives each value its label and the rows it keeps."""

    conditions: ClassVar[dict[str, tuple[str, Q]]]

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [(value, label) for value, (label, _) in self.conditions.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        choice = self.conditions.get(self.value() or "")
        return queryset if choice is None else queryset.filter(choice[1])


class EverFailedFilter(ChoicesFilter):
    """Rows with at least one failed attempt, including those that succeeded later."""

    title = "has failed at least once"
    parameter_name = "failed"
    conditions = {
        "yes": ("Yes", Q(failed_at__isnull=False)),
        "no": ("No", Q(failed_at__isnull=True)),
    }


class LinkedFilter(admin.SimpleListFilter):
    """The jobs of one batch or chain, as linked from its page; offered only when chosen,
    so it costs no query."""

    field: str  # the column filtered on
    parse: Callable[[str], object]  # the value to filter on; ValueError when it is not one

    def label(self, value: str) -> str:
        return f"{self.title} {value}"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        chosen = self.value()
        return [(chosen, self.label(chosen))] if chosen else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        try:
            parsed = self.parse(value)
        except ValueError as error:
            raise IncorrectLookupParameters(f"not a {self.title} id: {error}") from None
        return queryset.filter(**{self.field: parsed})


class BatchFilter(LinkedFilter):
    title = "batch"
    parameter_name = "batch__id__exact"
    field = "batch_id"
    parse = staticmethod(bounds.row_id)


class ChainFilter(LinkedFilter):
    title = "chain"
    parameter_name = "chain_id__exact"
    field = "chain_id"
    parse = staticmethod(uuid.UUID)

    def label(self, value: str) -> str:
        return f"chain {value[:8]}"  # a UUID's first characters tell chains apart


class BatchStateFilter(ChoicesFilter):
    title = "state"
    parameter_name = "state"
    # In the order of BATCH_STATES; each condition as batch_state() decides it.
    conditions = {
        "running": (
            BATCH_STATES["running"],
            Q(cancelled_at__isnull=True, finished_at__isnull=True),
        ),
        "completed": (
            BATCH_STATES["completed"],
            Q(cancelled_at__isnull=True, finished_at__isnull=False, failed=0),
        ),
        "failed": (
            BATCH_STATES["failed"],
            Q(cancelled_at__isnull=True, finished_at__isnull=False, failed__gt=0),
        ),
        "cancelled": (BATCH_STATES["cancelled"], Q(cancelled_at__isnull=False)),
    }
