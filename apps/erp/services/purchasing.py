"""Procure-to-pay: draft -> approved -> (partially) received -> billed -> paid.

Received quantities can be billed as they arrive (several bills per order); the order is billed once everything due
is billed, and paid once all its bills are paid. A partly received order can be closed short: the rest is cancelled.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, ValidationFailed

from ..choices import EntrySource, InvoiceKind, LocationKind, MoveKind, ProductKind, PurchaseOrderState
from ..models import (
    Invoice,
    JournalLine,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    Supplier,
    Warehouse,
)
from .common import ZERO, as_decimal, audit, next_number, q2, require_state
from .finance import account_id, invoice_post, order_has_open_invoices, post_simple
from .inventory import lock_products, move_apply, virtual_location, warehouse_stock_location
from .orders import (
    fully_invoiced,
    invoice_open_quantities,
    order_actor,
    order_close_remaining,
    order_invoiced,
    prepare_lines,
    totals,
)

P = PurchaseOrderState


def _write_lines(order: PurchaseOrder, prepared: list[dict[str, Any]]) -> None:
    for line in prepared:
        line.pop("discount_percent", None)
    PurchaseOrderLine.objects.bulk_create([PurchaseOrderLine(order=order, **line) for line in prepared])
    order.subtotal, order.tax_total, order.total = totals(prepared)


@transaction.atomic
def purchase_order_create(
    *,
    supplier: Supplier,
    lines: list[dict[str, Any]],
    warehouse: Warehouse | None = None,
    order_date: dt.date | None = None,
    expected_date: dt.date | None = None,
    supplier_reference: str = "",
    notes: str = "",
    actor: Any = None,
) -> PurchaseOrder:
    if not supplier.active:
        raise ValidationFailed(
            gettext("Supplier %(code)s is inactive.") % {"code": supplier.code},
            details={"supplier": [gettext("Inactive.")]},
        )
    prepared = prepare_lines(lines, price_field="standard_cost", with_discount=False)
    order = PurchaseOrder(
        number=next_number("PO"),
        supplier=supplier,
        warehouse=warehouse or Warehouse.objects.order_by("id").first(),
        order_date=order_date or timezone.localdate(),
        expected_date=expected_date,
        supplier_reference=supplier_reference,
        notes=notes,
        created_by=order_actor(actor),
    )
    order.save()
    _write_lines(order, prepared)
    order.save(update_fields=["subtotal", "tax_total", "total"])
    audit(
        actor=actor,
        target=order,
        action=AuditAction.CREATE,
        message=f"Purchase order created with {len(prepared)} lines, total {order.total}",
        changes={"supplier": [None, supplier.pk], "total": [None, str(order.total)]},
    )
    return order


@transaction.atomic
def purchase_order_update(
    *, order: PurchaseOrder, actor: Any = None, lines: list[dict[str, Any]] | None = None, **fields: Any
) -> PurchaseOrder:
    order = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
    if order.state != P.DRAFT:
        raise Conflict(
            gettext("Order %(order)s is %(state)s; only drafts can be changed.")
            % {"order": order, "state": order.state},
            code="order_locked",
        )
    allowed = {"supplier", "warehouse", "order_date", "expected_date", "supplier_reference", "notes"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationFailed(
            gettext("These fields cannot be changed."), details={k: ["Not editable."] for k in unknown}
        )
    for name, value in fields.items():
        setattr(order, name, value)
    if lines is not None:
        prepared = prepare_lines(lines, price_field="standard_cost", with_discount=False)
        order.lines.all().delete()
        _write_lines(order, prepared)
    order.save()
    audit(actor=actor, target=order, action=AuditAction.UPDATE, message="Purchase order changed")
    return order


@transaction.atomic
def purchase_order_approve(*, order: PurchaseOrder, actor: Any = None) -> PurchaseOrder:
    order = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
    require_state(order, [P.DRAFT], "approve")
    order.state = P.APPROVED
    order.approved_at = timezone.now()
    order.approved_by = order_actor(actor)
    order.save(update_fields=["state", "approved_at", "approved_by", "updated_at"])
    audit(actor=actor, target=order, message="Purchase order approved", changes={"state": [P.DRAFT, P.APPROVED]})
    return order


@transaction.atomic
def purchase_order_receive(
    *,
    order: PurchaseOrder,
    quantities: dict[int, Any] | None = None,
    actor: Any = None,
    at: dt.datetime | None = None,
) -> Receipt:
    """Receive ``quantities`` ({line id: qty}) or everything still open: stock moves in at the order price (which
    updates the moving-average cost) and the value is posted Dr inventory / Cr goods received not invoiced."""
    order = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
    require_state(order, [P.APPROVED, P.PARTIALLY_RECEIVED], "receive")
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
        wanted = {pk: line.quantity - line.quantity_received for pk, line in lines.items()}
        wanted = {pk: qty for pk, qty in wanted.items() if qty > 0}
    over = {
        str(pk): f"{qty} requested, {lines[pk].quantity - lines[pk].quantity_received} open"
        for pk, qty in wanted.items()
        if qty > lines[pk].quantity - lines[pk].quantity_received
    }
    if over:
        raise ValidationFailed(gettext("Cannot receive more than ordered."), code="over_receipt", details=over)
    if not wanted:
        raise Conflict(gettext("Nothing left to receive on %(order)s.") % {"order": order}, code="invalid_transition")
    at = at or timezone.now()
    receipt = Receipt(number=next_number("GRN"), order=order, received_at=at, created_by=order_actor(actor))
    receipt.save()
    products = lock_products(lines[pk].product_id for pk in wanted)
    location = warehouse_stock_location(order.warehouse_id)
    suppliers = virtual_location(LocationKind.SUPPLIER)
    stock_value = expense_value = ZERO
    receipt_lines = []
    for pk in sorted(wanted, key=lambda k: (lines[k].product_id, k)):
        line, qty = lines[pk], wanted[pk]
        product = products[line.product_id]
        if product.kind == ProductKind.SERVICE:
            expense_value += q2(qty * line.unit_price)
        else:
            move_apply(
                product=product,
                kind=MoveKind.RECEIPT,
                quantity=qty,
                source=suppliers,
                destination=location,
                unit_cost=line.unit_price,
                reference=receipt.number,
                reference_obj=receipt,
                at=at,
                actor=actor,
            )
            stock_value += q2(qty * line.unit_price)
        line.quantity_received += qty
        receipt_lines.append(ReceiptLine(receipt=receipt, order_line=line, quantity=qty, unit_cost=line.unit_price))
    ReceiptLine.objects.bulk_create(receipt_lines)
    PurchaseOrderLine.objects.bulk_update(list(lines.values()), ["quantity_received"])
    for debit, amount in (("inventory", stock_value), ("purchases_expense", expense_value)):
        post_simple(
            date=at.date(),
            debit=debit,
            credit="grni",
            amount=amount,
            memo=f"Goods received {receipt.number}",
            source=EntrySource.STOCK,
            reference=receipt.number,
            actor=actor,
        )
    before = order.state
    fully = all(line.quantity_received == line.quantity_due for line in lines.values())
    order.state = P.RECEIVED if fully else P.PARTIALLY_RECEIVED
    order.save(update_fields=["state", "updated_at"])
    audit(actor=actor, target=order, message=f"Received ({receipt.number})", changes={"state": [before, order.state]})
    return receipt


def _grni_to_clear(order: PurchaseOrder) -> Any:
    """What the receipts put on goods received not invoiced and the order's earlier bills have not yet cleared: the
    value of the received quantities a new bill covers (each bill covers everything received and not yet billed)."""
    received = sum(
        (q2(line.quantity * line.unit_cost) for line in ReceiptLine.objects.filter(receipt__order=order)), ZERO
    )
    cleared = JournalLine.objects.filter(entry__invoice__purchase_order=order, account_id=account_id("grni")).aggregate(
        d=Sum("debit"), c=Sum("credit")
    )
    return received - ((cleared["d"] or ZERO) - (cleared["c"] or ZERO))


def _settled_state(order: PurchaseOrder, lines: list[PurchaseOrderLine]) -> str:
    """After a bill or a close: billed once everything due is billed, paid if no bill is open then."""
    if not fully_invoiced(lines, kind=InvoiceKind.SUPPLIER):
        return order.state
    return P.BILLED if order_has_open_invoices(order) else P.PAID


@transaction.atomic
def purchase_order_bill(
    *, order: PurchaseOrder, actor: Any = None, bill_date: dt.date | None = None, supplier_reference: str = ""
) -> Invoice:
    """Record the supplier's bill for what has been received and not yet billed: Dr GRNI, Dr input VAT / Cr payable.

    Allowed once something is received; 409 ``nothing_to_invoice`` when nothing new was received. The order becomes
    billed when everything due is billed."""
    order = PurchaseOrder.objects.select_for_update().select_related("supplier").get(pk=order.pk)
    require_state(order, [P.PARTIALLY_RECEIVED, P.RECEIVED], "bill")
    lines = list(order.lines.select_related("tax_rate"))
    bill_date = bill_date or timezone.localdate()
    grni = _grni_to_clear(order)
    bill = invoice_open_quantities(
        order=order,
        lines=lines,
        kind=InvoiceKind.SUPPLIER,
        prefix="BILL",
        links={"supplier": order.supplier, "purchase_order": order},
        invoice_date=bill_date,
        payment_terms_days=order.supplier.payment_terms_days,
        actor=actor,
    )
    if bill.total > 0:
        invoice_post(invoice=bill, actor=actor, grni_amount=grni)
    order_invoiced(
        order=order,
        lines=lines,
        invoice=bill,
        state=_settled_state(order, lines),
        actor=actor,
        noun="Bill",
        verb="Billed",
        link="purchase_order",
        done_field="quantity_billed",
    )
    return bill


@transaction.atomic
def purchase_order_close_remaining(*, order: PurchaseOrder, actor: Any = None) -> PurchaseOrder:
    """Close a partly received order short: cancel what was not received and reprice the order for what was. The
    order is then received (or already billed/paid) and is billed and paid as usual."""
    order = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
    require_state(order, [P.PARTIALLY_RECEIVED], "close the remainder of")
    lines = list(order.lines.select_related("tax_rate"))
    order_close_remaining(
        order=order,
        lines=lines,
        done_field="quantity_received",
        closed_state=P.RECEIVED,
        settle=_settled_state,
        actor=actor,
    )
    return order


@transaction.atomic
def purchase_order_cancel(*, order: PurchaseOrder, actor: Any = None) -> PurchaseOrder:
    order = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
    require_state(order, [P.DRAFT, P.APPROVED], "cancel")
    before = order.state
    order.state = P.CANCELLED
    order.save(update_fields=["state", "updated_at"])
    audit(actor=actor, target=order, message="Purchase order cancelled", changes={"state": [before, P.CANCELLED]})
    return order
