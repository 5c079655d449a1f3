"""Scheduled work shared by tasks and commands: reorder drafting, overdue flagging, daily KPI snapshots."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from ..choices import InvoiceKind, InvoiceState, PurchaseOrderState
from ..models import Invoice, Product, PurchaseOrder, PurchaseOrderLine, SalesOrder, Supplier
from ..models.system import KpiSnapshot
from ..selectors.dashboard import overdue_receivables
from ..selectors.inventory import reorder_suggestions, stock_outs_count
from .purchasing import purchase_order_create

OPEN_PO_STATES = [PurchaseOrderState.DRAFT, PurchaseOrderState.APPROVED, PurchaseOrderState.PARTIALLY_RECEIVED]


@transaction.atomic
def reorder_draft_purchase_orders(*, actor: Any = None) -> list[PurchaseOrder]:
    """One draft purchase order per default supplier for the products under their reorder point, skipping products
    already on an open purchase order (so running it twice drafts nothing new)."""
    on_order = set(
        PurchaseOrderLine.objects.filter(order__state__in=OPEN_PO_STATES).values_list("product_id", flat=True)
    )
    by_supplier: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in reorder_suggestions():
        if row["supplier_id"] and row["product_id"] not in on_order:
            by_supplier[row["supplier_id"]].append(row)
    created = []
    suppliers = Supplier.objects.in_bulk(list(by_supplier))
    products = Product.objects.in_bulk([row["product_id"] for rows in by_supplier.values() for row in rows])
    for supplier_id, rows in sorted(by_supplier.items()):
        created.append(
            purchase_order_create(
                supplier=suppliers[supplier_id],
                lines=[{"product": products[row["product_id"]], "quantity": row["suggested_quantity"]} for row in rows],
                notes="Drafted by the reorder check.",
                actor=actor,
            )
        )
    return created


def invoices_flag_overdue(*, as_of: dt.date | None = None) -> int:
    """Mark open invoices past their due date as overdue (and clear the flag on the others); returns how many are
    overdue."""
    as_of = as_of or timezone.localdate()
    open_invoices = Invoice.objects.filter(state=InvoiceState.OPEN)
    overdue = open_invoices.filter(due_date__lt=as_of)
    overdue.filter(is_overdue=False).update(is_overdue=True, updated_at=timezone.now())
    open_invoices.filter(due_date__gte=as_of, is_overdue=True).update(is_overdue=False, updated_at=timezone.now())
    return overdue.count()


def kpi_snapshot_take(*, date: dt.date | None = None) -> KpiSnapshot:
    """Store the day's key figures (idempotent per day); the dashboards read the snapshots."""
    date = date or timezone.localdate()
    revenue = Invoice.objects.filter(kind=InvoiceKind.CUSTOMER, invoice_date=date).aggregate(s=Sum("subtotal"))["s"]
    open_ar = Invoice.objects.filter(kind=InvoiceKind.CUSTOMER, state=InvoiceState.OPEN).aggregate(
        s=Sum(F("total") - F("amount_paid"))
    )["s"]
    data = {
        "revenue_today": str(revenue or Decimal("0.00")),
        "open_receivables": str(open_ar or Decimal("0.00")),
        "overdue_receivables": str(overdue_receivables(date)),
        "stock_outs": stock_outs_count(),
        "reorder_suggestions": len(reorder_suggestions()),
        "orders_created": SalesOrder.objects.filter(order_date=date).count(),
    }
    snapshot, _ = KpiSnapshot.objects.update_or_create(date=date, defaults={"data": data, "created_at": timezone.now()})
    return snapshot
