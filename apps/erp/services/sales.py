"""Order-to-cash: draft -> confirmed (reserves stock, checks credit) -> (partially) delivered -> invoiced -> paid.

Delivered quantities can be invoiced as they ship (several invoices per order); the order is invoiced once everything
due is invoiced, and paid once all its invoices are paid. Cancel before any delivery releases the reservations; a
partly delivered order can be closed short instead, which releases what is still reserved and cancels the rest.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, ValidationFailed

from .. import metrics
from ..choices import EntrySource, InvoiceKind, InvoiceState, LocationKind, MoveKind, SalesOrderState
from ..models import Customer, Delivery, DeliveryLine, Invoice, SalesOrder, SalesOrderLine, Warehouse
from .common import ZERO, as_decimal, audit, next_number, q2, require_state
from .finance import invoice_post, order_has_open_invoices, post_simple
from .inventory import (
    lock_products,
    move_apply,
    stock_release,
    stock_reserve,
    virtual_location,
    warehouse_stock_location,
)
from .orders import (
    fully_invoiced,
    invoice_open_quantities,
    order_actor,
    order_close_remaining,
    order_invoiced,
    prepare_lines,
    totals,
)

S = SalesOrderState
OPEN_ORDER_STATES = (S.CONFIRMED, S.PARTIALLY_DELIVERED, S.DELIVERED)


def _write_lines(order: SalesOrder, prepared: list[dict[str, Any]]) -> None:
    SalesOrderLine.objects.bulk_create([SalesOrderLine(order=order, **line) for line in prepared])
    order.subtotal, order.tax_total, order.total = totals(prepared)


@transaction.atomic
def sales_order_create(
    *,
    customer: Customer,
    lines: list[dict[str, Any]],
    warehouse: Warehouse | None = None,
    order_date: dt.date | None = None,
    customer_reference: str = "",
    notes: str = "",
    actor: Any = None,
) -> SalesOrder:
    if not customer.active:
        raise ValidationFailed(
            gettext("Customer %(code)s is inactive.") % {"code": customer.code},
            details={"customer": [gettext("Inactive.")]},
        )
    prepared = prepare_lines(lines, price_field="sale_price", with_discount=True)
    order = SalesOrder(
        number=next_number("SO"),
        customer=customer,
        warehouse=warehouse or Warehouse.objects.order_by("id").first(),
        order_date=order_date or timezone.localdate(),
        customer_reference=customer_reference,
        notes=notes,
        created_by=order_actor(actor),
    )
    order.full_clean()
    order.save()
    _write_lines(order, prepared)
    order.save(update_fields=["subtotal", "tax_total", "total"])
    audit(
        actor=actor,
        target=order,
        action=AuditAction.CREATE,
        message=f"Sales order created with {len(prepared)} lines, total {order.total}",
        changes={"customer": [None, customer.pk], "total": [None, str(order.total)]},
    )
    transaction.on_commit(metrics.orders_created.inc)
    return order


@transaction.atomic
def sales_order_update(
    *, order: SalesOrder, actor: Any = None, lines: list[dict[str, Any]] | None = None, **fields: Any
) -> SalesOrder:
    """Change a draft: header fields and/or replace all lines. Confirmed orders are locked (409)."""
    order = SalesOrder.objects.select_for_update().get(pk=order.pk)
    if order.state != S.DRAFT:
        raise Conflict(
            gettext("Order %(order)s is %(state)s; only drafts can be changed.")
            % {"order": order, "state": order.state},
            code="order_locked",
        )
    allowed = {"customer", "warehouse", "order_date", "customer_reference", "notes"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationFailed(
            gettext("These fields cannot be changed."), details={k: ["Not editable."] for k in unknown}
        )
    for name, value in fields.items():
        setattr(order, name, value)
    if lines is not None:
        prepared = prepare_lines(lines, price_field="sale_price", with_discount=True)
        order.lines.all().delete()
        _write_lines(order, prepared)
    order.full_clean()
    order.save()
    audit(actor=actor, target=order, action=AuditAction.UPDATE, message="Sales order changed")
    return order


def customer_exposure(customer: Customer) -> Decimal:
    """Open receivables plus the part of confirmed orders not yet invoiced."""
    open_ar = (
        Invoice.objects.filter(customer=customer, kind=InvoiceKind.CUSTOMER, state=InvoiceState.OPEN).aggregate(
            s=Sum(F("total") - F("amount_paid"))
        )["s"]
        or ZERO
    )
    pending = (
        SalesOrder.objects.filter(customer=customer, state__in=OPEN_ORDER_STATES).aggregate(s=Sum("total"))["s"] or ZERO
    )
    invoiced = (
        Invoice.objects.filter(sales_order__customer=customer, sales_order__state__in=OPEN_ORDER_STATES).aggregate(
            s=Sum("total")
        )["s"]
        or ZERO
    )
    return open_ar + pending - invoiced


@transaction.atomic
def sales_order_confirm(*, order: SalesOrder, actor: Any = None) -> SalesOrder:
    order = SalesOrder.objects.select_for_update().select_related("customer").get(pk=order.pk)
    require_state(order, [S.DRAFT], "confirm")
    customer = Customer.objects.select_for_update().get(pk=order.customer_id)
    if customer.credit_limit > 0:
        exposure = customer_exposure(customer)
        if exposure + order.total > customer.credit_limit:
            raise Conflict(
                gettext("Confirming %(order)s would exceed %(code)s's credit limit.")
                % {"order": order, "code": customer.code},
                code="credit_limit_exceeded",
                details={
                    "credit_limit": str(customer.credit_limit),
                    "exposure": str(exposure),
                    "order_total": str(order.total),
                },
            )
    lines = list(order.lines.all())
    products = lock_products(line.product_id for line in lines)
    location = warehouse_stock_location(order.warehouse_id)
    for line in sorted(lines, key=lambda ln: (ln.product_id, ln.pk)):
        product = products[line.product_id]
        if product.is_tracked:
            stock_reserve(product=product, location=location, quantity=line.quantity)
            line.quantity_reserved = line.quantity
    SalesOrderLine.objects.bulk_update(lines, ["quantity_reserved"])
    order.state = S.CONFIRMED
    order.confirmed_at = timezone.now()
    order.save(update_fields=["state", "confirmed_at", "updated_at"])
    audit(actor=actor, target=order, message="Sales order confirmed", changes={"state": [S.DRAFT, S.CONFIRMED]})
    transaction.on_commit(metrics.orders_confirmed.inc)
    return order


@transaction.atomic
def sales_order_deliver(
    *,
    order: SalesOrder,
    quantities: dict[int, Any] | None = None,
    actor: Any = None,
    at: dt.datetime | None = None,
) -> Delivery:
    """Deliver ``quantities`` ({line id: qty}) or everything still open. Moves stock to the customer at average cost
    and posts cost of goods sold."""
    order = SalesOrder.objects.select_for_update().get(pk=order.pk)
    require_state(order, [S.CONFIRMED, S.PARTIALLY_DELIVERED], "deliver")
    lines = {line.pk: line for line in order.lines.all()}
    if quantities:
        unknown = [k for k in quantities if int(k) not in lines]
        if unknown:
            raise ValidationFailed(
                gettext("Unknown order lines."),
                details={"lines": [gettext("Not on this order: %(unknown)s") % {"unknown": unknown}]},
            )
        wanted = {int(k): as_decimal(v, field="quantity", places=3, positive=True) for k, v in quantities.items()}
    else:
        wanted = {pk: line.quantity - line.quantity_delivered for pk, line in lines.items()}
        wanted = {pk: qty for pk, qty in wanted.items() if qty > 0}
    over = {
        str(pk): f"{qty} requested, {lines[pk].quantity - lines[pk].quantity_delivered} open"
        for pk, qty in wanted.items()
        if qty > lines[pk].quantity - lines[pk].quantity_delivered
    }
    if over:
        raise ValidationFailed(gettext("Cannot deliver more than ordered."), code="over_delivery", details=over)
    if not wanted:
        raise Conflict(gettext("Nothing left to deliver on %(order)s.") % {"order": order}, code="invalid_transition")
    at = at or timezone.now()
    delivery = Delivery(number=next_number("DN"), order=order, delivered_at=at, created_by=order_actor(actor))
    delivery.save()
    products = lock_products(lines[pk].product_id for pk in wanted)
    location = warehouse_stock_location(order.warehouse_id)
    customers = virtual_location(LocationKind.CUSTOMER)
    cost_total = ZERO
    delivery_lines = []
    for pk in sorted(wanted, key=lambda k: (lines[k].product_id, k)):
        line, qty = lines[pk], wanted[pk]
        product = products[line.product_id]
        unit_cost = ZERO
        if product.is_tracked:
            from_reserved = min(qty, line.quantity_reserved)
            move = move_apply(
                product=product,
                kind=MoveKind.DELIVERY,
                quantity=qty,
                source=location,
                destination=customers,
                reference=delivery.number,
                reference_obj=delivery,
                at=at,
                actor=actor,
                from_reserved=from_reserved,
            )
            unit_cost = move.unit_cost
            cost_total += qty * unit_cost
            line.quantity_reserved -= from_reserved
        line.quantity_delivered += qty
        delivery_lines.append(DeliveryLine(delivery=delivery, order_line=line, quantity=qty, unit_cost=unit_cost))
    DeliveryLine.objects.bulk_create(delivery_lines)
    SalesOrderLine.objects.bulk_update(list(lines.values()), ["quantity_reserved", "quantity_delivered"])
    post_simple(
        date=at.date(),
        debit="cogs",
        credit="inventory",
        amount=q2(cost_total),
        memo=f"Cost of goods delivered {delivery.number}",
        source=EntrySource.STOCK,
        reference=delivery.number,
        actor=actor,
    )
    fully = all(line.quantity_delivered == line.quantity_due for line in lines.values())
    before = order.state
    order.state = S.DELIVERED if fully else S.PARTIALLY_DELIVERED
    order.save(update_fields=["state", "updated_at"])
    audit(
        actor=actor,
        target=order,
        message=f"Delivered ({delivery.number})",
        changes={"state": [before, order.state]},
    )
    return delivery


def _settled_state(order: SalesOrder, lines: list[SalesOrderLine]) -> str:
    """After an invoice or a close: invoiced once everything due is invoiced, paid if no invoice is open then."""
    if not fully_invoiced(lines, kind=InvoiceKind.CUSTOMER):
        return order.state
    return S.INVOICED if order_has_open_invoices(order) else S.PAID


@transaction.atomic
def sales_order_invoice(*, order: SalesOrder, actor: Any = None, invoice_date: dt.date | None = None) -> Invoice:
    """Invoice what has been delivered and not yet invoiced, and post it (receivable / revenue / output VAT).

    Allowed once something is delivered; each call invoices the newly delivered quantities (409
    ``nothing_to_invoice`` when there are none). The order becomes invoiced when everything due is invoiced."""
    order = SalesOrder.objects.select_for_update().select_related("customer").get(pk=order.pk)
    require_state(order, [S.PARTIALLY_DELIVERED, S.DELIVERED], "invoice")
    lines = list(order.lines.select_related("tax_rate"))
    invoice_date = invoice_date or timezone.localdate()
    invoice = invoice_open_quantities(
        order=order,
        lines=lines,
        kind=InvoiceKind.CUSTOMER,
        prefix="INV",
        links={"customer": order.customer, "sales_order": order},
        invoice_date=invoice_date,
        payment_terms_days=order.customer.payment_terms_days,
        actor=actor,
    )
    if invoice.total > 0:
        invoice_post(invoice=invoice, actor=actor)
    order_invoiced(
        order=order,
        lines=lines,
        invoice=invoice,
        state=_settled_state(order, lines),
        actor=actor,
        noun="Invoice",
        verb="Invoiced",
        link="sales_order",
        done_field="quantity_invoiced",
    )
    return invoice


@transaction.atomic
def sales_order_close_remaining(*, order: SalesOrder, actor: Any = None) -> SalesOrder:
    """Close a partly delivered order short: release what is still reserved, cancel the undelivered remainder and
    reprice the order for what was delivered. The order is then delivered (or already invoiced/paid when the
    deliveries were invoiced/paid) and is invoiced and paid as usual."""
    order = SalesOrder.objects.select_for_update().get(pk=order.pk)
    require_state(order, [S.PARTIALLY_DELIVERED], "close the remainder of")
    lines = list(order.lines.select_related("tax_rate"))
    products = lock_products(line.product_id for line in lines if line.quantity_reserved > 0)
    location = warehouse_stock_location(order.warehouse_id)
    released: dict[str, str] = {}
    per_product: defaultdict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        if line.quantity_reserved > 0:
            per_product[line.product_id] += line.quantity_reserved
            released[str(line.pk)] = str(line.quantity_reserved)
            line.quantity_reserved = ZERO
    for product_id in sorted(per_product):  # one stock level row per product, locked in id order
        stock_release(product=products[product_id], location=location, quantity=per_product[product_id])
    order_close_remaining(
        order=order,
        lines=lines,
        done_field="quantity_delivered",
        closed_state=S.DELIVERED,
        settle=_settled_state,
        actor=actor,
        line_fields=("quantity_reserved",),
        extra_changes={"reservation_released": released},
    )
    return order


@transaction.atomic
def sales_order_cancel(*, order: SalesOrder, actor: Any = None) -> SalesOrder:
    order = SalesOrder.objects.select_for_update().get(pk=order.pk)
    if order.state == S.PARTIALLY_DELIVERED:
        raise Conflict(
            gettext("Cannot cancel %(order)s: part of it is delivered. Close the remainder instead (close-remaining).")
            % {"order": order},
            code="invalid_transition",
            details={"state": order.state, "action": "cancel", "allowed_from": [S.DRAFT, S.CONFIRMED]},
        )
    require_state(order, [S.DRAFT, S.CONFIRMED], "cancel")
    before = order.state
    if order.state == S.CONFIRMED:
        lines = list(order.lines.all())
        products = lock_products(line.product_id for line in lines)
        location = warehouse_stock_location(order.warehouse_id)
        for line in sorted(lines, key=lambda ln: (ln.product_id, ln.pk)):
            if line.quantity_reserved > 0:
                stock_release(product=products[line.product_id], location=location, quantity=line.quantity_reserved)
                line.quantity_reserved = ZERO
        SalesOrderLine.objects.bulk_update(lines, ["quantity_reserved"])
    order.state = S.CANCELLED
    order.cancelled_at = timezone.now()
    order.save(update_fields=["state", "cancelled_at", "updated_at"])
    audit(actor=actor, target=order, message="Sales order cancelled", changes={"state": [before, S.CANCELLED]})
    return order
