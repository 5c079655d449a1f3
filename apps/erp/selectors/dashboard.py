"""Dashboard KPIs for a day, week, month, quarter or year."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from apps.core import caching

from ..choices import DashboardPeriod, InvoiceKind, InvoiceState
from ..models import (
    Account,
    Customer,
    Invoice,
    JournalLine,
    KpiSnapshot,
    Location,
    Product,
    SalesOrder,
    SalesOrderLine,
    StockLevel,
    Supplier,
)
from .inventory import reorder_suggestions, stock_outs_count
from .reports import SALES_STATES, profit_and_loss

ZERO = Decimal("0.00")


def period_range(period: str, ref: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """First and last day of the ``period`` containing ``ref`` (today by default)."""
    ref = ref or timezone.localdate()
    if period == DashboardPeriod.DAY:
        return ref, ref
    if period == DashboardPeriod.WEEK:
        start = ref - dt.timedelta(days=ref.weekday())
        return start, start + dt.timedelta(days=6)
    if period == DashboardPeriod.MONTH:
        start = ref.replace(day=1)
    elif period == DashboardPeriod.QUARTER:
        start = ref.replace(month=(ref.month - 1) // 3 * 3 + 1, day=1)
    elif period == DashboardPeriod.YEAR:
        return ref.replace(month=1, day=1), ref.replace(month=12, day=31)
    else:
        raise ValueError(period)
    months = 1 if period == DashboardPeriod.MONTH else 3
    year, month = divmod(start.month - 1 + months, 12)
    return start, dt.date(start.year + year, month + 1, 1) - dt.timedelta(days=1)


def overdue_receivables(as_of: dt.date | None = None) -> Decimal:
    as_of = as_of or timezone.localdate()
    value = Invoice.objects.filter(kind=InvoiceKind.CUSTOMER, state=InvoiceState.OPEN, due_date__lt=as_of).aggregate(
        s=Sum(F("total") - F("amount_paid"))
    )["s"]
    return value or ZERO


# Everything the dashboard reads: a write to any of these makes the next dashboard fresh.
DASHBOARD_MODELS = (
    SalesOrder,
    SalesOrderLine,
    Product,
    Customer,
    Supplier,
    Invoice,
    JournalLine,
    Account,
    StockLevel,
    Location,
    KpiSnapshot,
)
SNAPSHOT_FIGURES = ("open_receivables", "overdue_receivables", "stock_outs", "reorder_suggestions", "revenue_today")


def dashboard_kpis_cached(*, period: str = DashboardPeriod.MONTH, ref: dt.date | None = None) -> dict[str, Any]:
    """``dashboard_kpis`` from the cache, recomputed after any write to the data it reads (and on a new day)."""
    start, end = period_range(period, ref)
    return caching.cached(
        f"erp:dashboard:{period}:{start}:{end}:{timezone.localdate()}",
        [caching.model_namespace(m) for m in DASHBOARD_MODELS],
        lambda: dashboard_kpis(period=period, ref=ref),
    )


def dashboard_kpis(*, period: str = DashboardPeriod.MONTH, ref: dt.date | None = None) -> dict[str, Any]:
    start, end = period_range(period, ref)
    pnl = profit_and_loss(date_from=start, date_to=end)["totals"]
    orders = SalesOrder.objects.filter(order_date__range=(start, end))
    by_state = {row["state"]: row["n"] for row in orders.values("state").annotate(n=Count("id")).order_by("state")}
    lines = SalesOrderLine.objects.filter(order__state__in=SALES_STATES, order__order_date__range=(start, end))
    top_customers = list(
        lines.values(code=F("order__customer__code"), name=F("order__customer__name"))
        .annotate(net_sales=Sum("net_amount"))
        .order_by("-net_sales", "code")[:5]
    )
    top_products = list(
        lines.values(sku=F("product__sku"), name=F("product__name"))
        .annotate(net_sales=Sum("net_amount"), quantity=Sum(F("quantity") - F("quantity_cancelled")))
        .order_by("-net_sales", "sku")[:5]
    )
    trunc = TruncDate("order__order_date") if period in ("day", "week", "month") else TruncMonth("order__order_date")
    series = [
        {"bucket": row["bucket"].isoformat()[: 10 if period in ("day", "week", "month") else 7], "net_sales": row["s"]}
        for row in lines.annotate(bucket=trunc).values("bucket").annotate(s=Sum("net_amount")).order_by("bucket")
    ]
    alerts = reorder_suggestions()
    snapshots = [
        {"date": snap.date.isoformat(), **{name: snap.data.get(name) for name in SNAPSHOT_FIGURES}}
        for snap in KpiSnapshot.objects.filter(date__range=(start, end)).order_by("date")
    ]
    return {
        "period": period,
        "date_from": start,
        "date_to": end,
        "revenue": pnl["income"],
        "expenses": pnl["expenses"],
        "profit": pnl["net_profit"],
        "orders_by_state": by_state,
        "orders_total": sum(by_state.values()),
        "top_customers": top_customers,
        "top_products": top_products,
        "sales_series": series,
        "overdue_receivables": overdue_receivables(),
        "stock_outs": stock_outs_count(),
        "stock_alerts": alerts[:10],
        "stock_alerts_count": len(alerts),
        "snapshots": snapshots,
    }
