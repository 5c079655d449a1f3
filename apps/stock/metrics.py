"""Prometheus business metrics of the stock system.

``stock_backtests_total{kind,status}`` counts finished backtests and sweeps in the process that ran them; the
paper-trading gauges are computed by the platform's refresh job (apps.core.metrics) and exported from its snapshot.
"""

from __future__ import annotations

from django.db.models import Count
from prometheus_client import Counter

from apps.core.metrics import business_gauge

from .models import Order, Portfolio
from .selectors import portfolio_valuation

BACKTESTS = Counter("stock_backtests", "Backtests and sweeps finished", ["kind", "status"])


@business_gauge("stock_paper_orders", "Paper orders by status", labels=("status",))
def _paper_orders() -> dict[tuple[str, ...], float]:
    return {(row["status"],): row["n"] for row in Order.objects.order_by().values("status").annotate(n=Count("id"))}


@business_gauge(
    "stock_portfolio_equity", "Paper portfolio equity (cash + positions at the last close)", labels=("portfolio",)
)
def _portfolio_equity() -> dict[tuple[str, ...], float]:
    return {
        (str(portfolio.pk),): float(portfolio_valuation(portfolio=portfolio)["equity"])
        for portfolio in Portfolio.objects.order_by("id")[:500]
    }
