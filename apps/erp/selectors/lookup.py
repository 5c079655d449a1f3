"""Look-ups by code for other systems (the chat centre's ``erp_lookup`` tool): JSON-safe summaries of one record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import F, Sum
from django.utils.translation import gettext

from apps.core.exceptions import NotFound, ValidationFailed

from ..choices import InvoiceKind, InvoiceState, LocationKind
from ..models import Customer, Invoice, SalesOrder, StockLevel
from .inventory import products_with_stock

LOOKUP_KINDS = ("order", "customer", "product", "stock")


def _money(value: Decimal | None) -> str:
    return str((value or Decimal("0")).quantize(Decimal("0.01")))


def _order(code: str) -> dict[str, Any]:
    order = SalesOrder.objects.select_related("customer").filter(number__iexact=code).first()
    if order is None:
        raise NotFound(gettext("No sales order %(code)s.") % {"code": repr(code)})
    return {
        "number": order.number,
        "state": order.state,
        "customer": {"code": order.customer.code, "name": order.customer.name},
        "order_date": order.order_date.isoformat(),
        "lines": order.lines.count(),
        "subtotal": _money(order.subtotal),
        "tax": _money(order.tax_total),
        "total": _money(order.total),
    }


def _customer(code: str) -> dict[str, Any]:
    customer = Customer.objects.filter(code__iexact=code).first()
    if customer is None:
        raise NotFound(gettext("No customer %(code)s.") % {"code": repr(code)})
    open_amount = Invoice.objects.filter(
        kind=InvoiceKind.CUSTOMER, state=InvoiceState.OPEN, customer=customer
    ).aggregate(s=Sum(F("total") - F("amount_paid")))["s"]
    return {
        "code": customer.code,
        "name": customer.name,
        "email": customer.email,
        "active": customer.active,
        "payment_terms_days": customer.payment_terms_days,
        "credit_limit": _money(customer.credit_limit),
        "open_receivables": _money(open_amount),
    }


def _product(code: str) -> dict[str, Any]:
    product = products_with_stock().filter(sku__iexact=code).first()
    if product is None:
        raise NotFound(gettext("No product %(code)s.") % {"code": repr(code)})
    return {
        "sku": product.sku,
        "name": product.name,
        "kind": product.kind,
        "uom": product.uom,
        "active": product.active,
        "sale_price": _money(product.sale_price),
        "on_hand": str(product.on_hand),
        "reserved": str(product.reserved),
        "available": str(product.available),
    }


def _stock(code: str) -> dict[str, Any]:
    summary = _product(code)
    levels = StockLevel.objects.filter(product__sku__iexact=code, location__kind=LocationKind.INTERNAL)
    summary["locations"] = [
        {"location": level.location.code, "on_hand": str(level.on_hand), "reserved": str(level.reserved)}
        for level in levels.select_related("location").order_by("location__code")
    ]
    return summary


def erp_lookup(*, kind: str, code: str) -> dict[str, Any]:
    """One order (by number), customer (by code), product or its stock (by SKU). NotFound when there is none."""
    handlers = {"order": _order, "customer": _customer, "product": _product, "stock": _stock}
    if kind not in handlers:
        raise ValidationFailed(
            gettext("Unknown look-up %(kind)s.") % {"kind": repr(kind)}, details={"kind": list(LOOKUP_KINDS)}
        )
    if not code.strip():
        raise ValidationFailed(gettext("A code is needed."), details={"code": [gettext("This field is required.")]})
    return handlers[kind](code.strip())
