"""The changelist for tables of millions of rows: a count that stops early, and a date
hierarchy that reads two dates instead of a DISTINCT scan."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst

from jobman import bounds

# How many pages past the current one the changelist counts rows for. The count stops
# there, so a page of a million-row table costs a bounded count, not a full one.
PAGES_AHEAD = 10

# The date hierarchy's query parameters, after the field's name.
DATE_PARTS = ("year", "month", "day")

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
