"""List filters whose choices cost no query: from the registry, RQ_QUEUES, or the link
followed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest

from jobman import bounds, queues, registry
from jobman.dashboard.figures import BATCH_STATES

# Filters whose choices cost no query


class KnownNamesFilter(admin.SimpleListFilter):
    """Choices from configuration, not from the rows (a ``SELECT DISTINCT`` would read every
    row), with the chosen one kept: a name no longer configured, reached by a link."""

    field_path: str  # the column filtered on

    def known(self) -> Iterable[str]:
        raise NotImplementedError

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
    """Job types from the registry."""

    title = "type"
    parameter_name = "type"
    field_path = "type"

    def known(self) -> Iterable[str]:
        return registry.all_types()


class FailedJobTypeFilter(JobTypeFilter):
    field_path = "jobman__type"


class QueueFilter(KnownNamesFilter):
    """Queues from ``RQ_QUEUES``."""

    title = "queue"
    parameter_name = "queue"
    field_path = "queue"

    def known(self) -> Iterable[str]:
        return queues.configured_queues()


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
