"""Reads of metered usage: totals by period and by user, group, API key, meter and day; quota pressure for the
gauges; a usage report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils import timezone

from ..choices import Meter
from ..models import QuotaCounter, UsageDaily
from ..periods import period_start
from .quotas import effective_limits

GROUPINGS = {
    "day": "day",
    "meter": "meter",
    "user": "user__username",
    "api_key": "api_key__prefix",
    "group": "user__groups__name",
    "dimension": "dimension",
}


def usage_rows(
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    meters: Iterable[str] | None = None,
    user_ids: Iterable[int] | None = None,
    group_ids: Iterable[int] | None = None,
    api_key_ids: Iterable[int] | None = None,
) -> QuerySet[UsageDaily]:
    rows = UsageDaily.objects.all()
    if start:
        rows = rows.filter(day__gte=start)
    if end:
        rows = rows.filter(day__lte=end)
    if meters:
        rows = rows.filter(meter__in=list(meters))
    if user_ids is not None:
        rows = rows.filter(user_id__in=list(user_ids))
    if group_ids:
        rows = rows.filter(user__groups__id__in=list(group_ids))
    if api_key_ids:
        rows = rows.filter(api_key_id__in=list(api_key_ids))
    return rows


def usage_summary(*, rows: QuerySet[UsageDaily], by: Iterable[str]) -> list[dict[str, Any]]:
    """Totals of ``rows`` grouped by ``by`` (day, meter, user, api_key, group, dimension), largest first. Grouping
    by group counts a user in every group they belong to."""
    keys = [GROUPINGS[b] for b in by]
    named = {GROUPINGS[b]: b for b in by}
    result = (
        rows.order_by()
        .values(*keys)
        .annotate(quantity=Sum("quantity"), reports=Sum("events"))
        .order_by(*[k for k in keys if k == "day"], "-quantity", *[k for k in keys if k != "day"])
    )
    return [
        {**{named[k]: row[k] for k in keys}, "quantity": row["quantity"], "reports": row["reports"]} for row in result
    ]


def usage_today_by_meter(*, at: dt.datetime | None = None) -> dict[str, Decimal]:
    day = (at or timezone.now()).astimezone(dt.UTC).date()
    rows = UsageDaily.objects.filter(day=day).order_by().values("meter").annotate(total=Sum("quantity"))
    return {row["meter"]: row["total"] or Decimal(0) for row in rows}


def quota_pressure(*, at: dt.datetime | None = None) -> dict[str, tuple[float, int]]:
    """Per meter: the largest share of a limit any user has used in its current period, and how many users have
    used all of it. Every meter is present (0, 0 without limits), so the gauges fall back to 0."""
    now = at or timezone.now()
    starts = {period: period_start(period, now) for period in ("day", "month", "total")}
    found: dict[str, tuple[float, int]] = {meter: (0.0, 0) for meter in Meter.values}
    counters = QuotaCounter.objects.filter(period_start__in=set(starts.values()), used__gt=0).values(
        "user_id", "meter", "period", "period_start", "used"
    )
    for row in counters:
        if row["period_start"] != starts[row["period"]]:
            continue
        limit = effective_limits(user_id=row["user_id"]).get((row["meter"], row["period"]))
        if limit is None:
            continue
        ratio = float(row["used"] / limit.limit) if limit.limit > 0 else 1.0
        best, over = found[row["meter"]]
        found[row["meter"]] = (max(best, ratio), over + (1 if row["used"] >= limit.limit else 0))
    return found


def usage_daily_series(
    *, days: int = 30, user_id: int | None = None, at: dt.datetime | None = None, top: int = 4
) -> list[tuple[str, list[tuple[dt.date, Decimal]]]]:
    """The ``top`` meters with the most reports over the last ``days`` days, each as one total per day (0 where
    nothing was used), for the admin's usage chart."""
    today = (at or timezone.now()).astimezone(dt.UTC).date()
    start = today - dt.timedelta(days=days - 1)
    rows = UsageDaily.objects.filter(day__gte=start, day__lte=today)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    totals = rows.order_by().values("meter", "day").annotate(total=Sum("quantity"), reports=Sum("events"))
    by_meter: dict[str, dict[dt.date, Decimal]] = {}
    activity: dict[str, int] = {}
    for row in totals:
        by_meter.setdefault(row["meter"], {})[row["day"]] = row["total"] or Decimal(0)
        activity[row["meter"]] = activity.get(row["meter"], 0) + (row["reports"] or 0)
    chosen = sorted(activity, key=lambda meter: (-activity[meter], meter))[:top]
    span = [start + dt.timedelta(days=n) for n in range(days)]
    return [(meter, [(day, by_meter[meter].get(day, Decimal(0))) for day in span]) for meter in chosen]
