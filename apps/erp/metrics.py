"""Prometheus business metrics of the ERP.

Counters move as orders are created and confirmed (in the process doing it); the gauges are computed from the
database by the platform's refresh job (apps.core.metrics) and exported from its cached snapshot."""

from __future__ import annotations

from django.db.models import Sum
from django.utils import timezone
from prometheus_client import Counter

from apps.core.metrics import business_gauge

from .choices import InvoiceKind
from .models import Invoice
from .selectors.dashboard import overdue_receivables
from .selectors.inventory import reorder_suggestions, stock_outs_count

orders_created = Counter("erp_sales_orders_created", "Sales orders created")
orders_confirmed = Counter("erp_sales_orders_confirmed", "Sales orders confirmed")


@business_gauge("erp_revenue_today", "Invoiced revenue (net of tax) of the current day")
def _revenue_today() -> float:
    today = timezone.localdate()
    total = Invoice.objects.filter(kind=InvoiceKind.CUSTOMER, invoice_date=today).aggregate(s=Sum("subtotal"))["s"]
    return float(total or 0)


@business_gauge("erp_overdue_receivables", "Open amount of overdue customer invoices")
def _overdue_receivables() -> float:
    return float(overdue_receivables())


@business_gauge("erp_stock_outs", "Stockable products with nothing available")
def _stock_outs() -> float:
    return stock_outs_count()


@business_gauge("erp_reorder_suggestions", "Products whose available quantity is under the reorder point")
def _reorder_suggestions() -> float:
    return len(reorder_suggestions())
