"""Line handling shared by sales and purchase orders: validation of line input, total computation, invoicing what
was delivered (received) and not yet invoiced (billed), and closing an order short."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, ValidationFailed

from .. import conf
from ..choices import InvoiceKind, InvoiceState
from ..models import Invoice, InvoiceLine, Product, TaxRate
from .common import ZERO, as_decimal, audit, line_amounts, next_number


def _by_id(model, ids) -> dict[int, Any]:
    clean = {int(i) for i in ids if str(i).isdigit()}
    return {obj.pk: obj for obj in model.objects.filter(pk__in=clean)}


def _ref_id(value: Any) -> Any:
    return value.pk if hasattr(value, "pk") else value


def prepare_lines(lines: list[dict[str, Any]], *, price_field: str, with_discount: bool) -> list[dict[str, Any]]:
    """Validate raw line dicts (product, quantity, unit_price, discount_percent, tax_rate; objects or ids) and return
    them with Product/TaxRate objects, Decimals and computed net/tax amounts. Errors name the line."""
    if not lines:
        raise ValidationFailed(
            gettext("An order needs at least one line."), details={"lines": [gettext("At least one line.")]}
        )
    products = _by_id(Product, [_ref_id(line.get("product")) for line in lines])
    rates = _by_id(TaxRate, [_ref_id(line.get("tax_rate")) for line in lines if line.get("tax_rate") is not None])
    prepared, problems = [], {}
    for index, raw in enumerate(lines):
        key = f"lines[{index}]"
        product_id = _ref_id(raw.get("product"))
        product = products.get(int(product_id)) if str(product_id).isdigit() else None
        if product is None:
            problems[key] = [f"Unknown product {_ref_id(raw.get('product'))!r}."]
            continue
        if not product.active:
            problems[key] = [f"Product {product.sku} is inactive."]
            continue
        try:
            quantity = as_decimal(raw.get("quantity"), field="quantity", places=3, positive=True)
            price_raw = raw.get("unit_price")
            default_price = getattr(product, price_field)
            unit_price = as_decimal(
                default_price if price_raw in (None, "") else price_raw, field="unit_price", places=2
            )
            discount = (
                as_decimal(raw.get("discount_percent") or 0, field="discount_percent", places=2)
                if with_discount
                else ZERO
            )
        except ValidationFailed as exc:
            problems[key] = [exc.message]
            continue
        if discount > 100:
            problems[key] = ["discount_percent must be between 0 and 100."]
            continue
        rate_id = _ref_id(raw.get("tax_rate"))
        rate = rates.get(int(rate_id)) if rate_id is not None and str(rate_id).isdigit() else None
        if rate_id is not None and rate is None:
            problems[key] = [f"Unknown tax rate {rate_id!r}."]
            continue
        rate = rate or product.tax_rate
        if rate is None:
            problems[key] = [f"Product {product.sku} has no default tax rate; give tax_rate."]
            continue
        net, tax = line_amounts(quantity=quantity, unit_price=unit_price, discount_percent=discount, tax_rate=rate.rate)
        if net + tax > conf.max_amount():
            problems[key] = [f"The line amount {net + tax} is too large (at most {conf.max_amount()})."]
            continue
        prepared.append(
            {
                "product": product,
                "description": str(raw.get("description") or product.name)[:255],
                "quantity": quantity,
                "unit_price": unit_price,
                "discount_percent": discount,
                "tax_rate": rate,
                "net_amount": net,
                "tax_amount": tax,
            }
        )
    if problems:
        raise ValidationFailed(gettext("Some order lines are invalid."), details=problems)
    total = totals(prepared)[2]
    if total > conf.max_amount():
        raise ValidationFailed(
            gettext("The order total %(total)s is too large (at most %(value)s).")
            % {"total": total, "value": conf.max_amount()},
            code="amount_too_large",
            details={"lines": [gettext("The lines add up to %(total)s.") % {"total": total}]},
        )
    return prepared


def totals(lines: list[Any]) -> tuple[Decimal, Decimal, Decimal]:
    subtotal = sum((line["net_amount"] if isinstance(line, dict) else line.net_amount for line in lines), ZERO)
    tax = sum((line["tax_amount"] if isinstance(line, dict) else line.tax_amount for line in lines), ZERO)
    return subtotal, tax, subtotal + tax


def order_actor(actor: Any) -> Any:
    """The user to record as creator, or None for system work (tasks, commands without a user)."""
    return actor if getattr(actor, "is_authenticated", False) else None


# per invoice kind: the order line's done quantity, its invoiced quantity, the invoice line's link, and wording
_INVOICING: dict[str, tuple[str, str, str, str, str]] = {
    InvoiceKind.CUSTOMER: ("quantity_delivered", "quantity_invoiced", "sales_order_line", "delivered", "invoiced"),
    InvoiceKind.SUPPLIER: ("quantity_received", "quantity_billed", "purchase_order_line", "received", "billed"),
}


def _amounts_invoiced(link: str, order: Any) -> dict[int, tuple[Decimal, Decimal]]:
    rows = (
        InvoiceLine.objects.filter(**{f"{link}__order": order})
        .values(link)
        .annotate(net=Sum("net_amount"), tax=Sum("tax_amount"))
        .order_by(link)
    )
    return {row[link]: (row["net"] or ZERO, row["tax"] or ZERO) for row in rows}


def invoice_open_quantities(
    *,
    order: Any,
    lines: list[Any],
    kind: str,
    prefix: str,
    links: dict[str, Any],
    invoice_date: dt.date,
    payment_terms_days: int,
    actor: Any,
) -> Invoice:
    """An (unposted) customer invoice or supplier bill for what ``order`` has delivered (received) and not yet
    invoiced (billed); the order ``lines`` (locked by the caller, with their tax rates) are updated.

    Each invoice line is priced, discounted and taxed like its order line. A line's last part takes what its order
    amounts still leave, so the invoices of an order add up to the order's totals to the cent. Nothing new to invoice
    is 409 ``nothing_to_invoice``. ``links`` names the partner and the order, e.g. {"customer": c, "sales_order": o}."""
    done_field, invoiced_field, link, done_word, invoiced_word = _INVOICING[kind]
    open_lines = [line for line in lines if getattr(line, done_field) > getattr(line, invoiced_field)]
    if not open_lines:
        raise Conflict(
            gettext("Nothing new to invoice on %(order)s: everything %(done_word)s is already %(invoiced_word)s.")
            % {"order": order, "done_word": done_word, "invoiced_word": invoiced_word},
            code="nothing_to_invoice",
            details={
                "state": order.state,
                done_word: str(sum((getattr(line, done_field) for line in lines), ZERO)),
                invoiced_word: str(sum((getattr(line, invoiced_field) for line in lines), ZERO)),
            },
        )
    earlier = _amounts_invoiced(link, order) if any(getattr(ln, invoiced_field) > 0 for ln in open_lines) else {}
    drafts = []
    for line in open_lines:
        quantity = getattr(line, done_field) - getattr(line, invoiced_field)
        discount = getattr(line, "discount_percent", ZERO)
        if getattr(line, invoiced_field) + quantity == line.quantity_due:
            net_before, tax_before = earlier.get(line.pk, (ZERO, ZERO))
            net, tax = max(line.net_amount - net_before, ZERO), max(line.tax_amount - tax_before, ZERO)
        else:
            net, tax = line_amounts(
                quantity=quantity, unit_price=line.unit_price, discount_percent=discount, tax_rate=line.tax_rate.rate
            )
        drafts.append(
            InvoiceLine(
                product_id=line.product_id,
                description=line.description,
                quantity=quantity,
                unit_price=line.unit_price,
                discount_percent=discount,
                tax_rate_id=line.tax_rate_id,
                net_amount=net,
                tax_amount=tax,
                **{link: line},
            )
        )
        setattr(line, invoiced_field, getattr(line, invoiced_field) + quantity)
    subtotal, tax_total, total = totals(drafts)
    invoice = Invoice(
        number=next_number(prefix),
        kind=kind,
        **links,
        invoice_date=invoice_date,
        due_date=invoice_date + timedelta(days=payment_terms_days),
        subtotal=subtotal,
        tax_total=tax_total,
        total=total,
        state=InvoiceState.OPEN if total > 0 else InvoiceState.PAID,
        created_by=order_actor(actor),
    )
    invoice.save()
    for draft in drafts:
        draft.invoice = invoice
    InvoiceLine.objects.bulk_create(drafts)
    type(open_lines[0]).objects.bulk_update(open_lines, [invoiced_field])
    return invoice


def fully_invoiced(lines: list[Any], *, kind: str) -> bool:
    """Every line's due quantity (ordered less cancelled) is invoiced (billed)."""
    invoiced_field = _INVOICING[kind][1]
    return all(getattr(line, invoiced_field) == line.quantity_due for line in lines)


def order_close_remaining(
    *,
    order: Any,
    lines: list[Any],
    done_field: str,
    closed_state: str,
    settle: Any,
    actor: Any,
    line_fields: tuple[str, ...] = (),
    extra_changes: dict[str, Any] | None = None,
) -> None:
    """Close a partly delivered/received order short: cancel what is still open on each line (ordered less
    ``done_field``), reprice the lines and the order for what remains due, move it to ``closed_state`` (or on to what
    ``settle(order, lines)`` says when those quantities are already invoiced) and audit it."""
    cancelled = {}
    for line in lines:
        remainder = line.quantity - line.quantity_cancelled - getattr(line, done_field)
        if remainder <= 0:
            continue
        line.quantity_cancelled += remainder
        line.net_amount, line.tax_amount = line_amounts(
            quantity=line.quantity_due,
            unit_price=line.unit_price,
            discount_percent=getattr(line, "discount_percent", ZERO),
            tax_rate=line.tax_rate.rate,
        )
        cancelled[str(line.pk)] = str(remainder)
    type(lines[0]).objects.bulk_update(lines, ["quantity_cancelled", "net_amount", "tax_amount", *line_fields])
    state_before, total_before = order.state, order.total
    order.subtotal, order.tax_total, order.total = totals(lines)
    order.state = closed_state
    order.state = settle(order, lines)
    order.save(update_fields=["state", "subtotal", "tax_total", "total", "updated_at"])
    done = done_field.removeprefix("quantity_")
    audit(
        actor=actor,
        target=order,
        message=f"Remainder closed: {len(cancelled)} lines cut to the {done} quantities",
        changes={
            "state": [state_before, order.state],
            "total": [str(total_before), str(order.total)],
            "quantity_cancelled": cancelled,
            **(extra_changes or {}),
        },
    )


def order_invoiced(
    *,
    order: Any,
    lines: list[Any],
    invoice: Invoice,
    state: str,
    actor: Any,
    noun: str,
    verb: str,
    link: str,
    done_field: str,
) -> None:
    """After an invoice (sales) or bill (purchasing) of ``order``: move the order to ``state`` and audit both the new
    document and the order with the quantities now invoiced (``done_field``)."""
    before = order.state
    order.state = state
    if order.state != before:
        order.save(update_fields=["state", "updated_at"])
    audit(
        actor=actor,
        target=invoice,
        action=AuditAction.CREATE,
        message=f"{noun} for {order.number}: {invoice.total}",
        changes={"total": [None, str(invoice.total)], link: [None, order.number]},
    )
    audit(
        actor=actor,
        target=order,
        message=f"{verb} ({invoice.number}, {invoice.total})",
        changes={
            "state": [before, order.state],
            done_field: {str(line.pk): str(getattr(line, done_field)) for line in lines},
        },
    )
