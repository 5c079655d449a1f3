"""Line handling shared by sales and purchase orders: validation of line input and total computation."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from decimal import Decimal
from typing import Any

from apps.core.exceptions import ValidationFailed

from ..models import Invoice, InvoiceLine, Product, TaxRate
from .common import ZERO, as_decimal, line_amounts, next_number


def _by_id(model, ids) -> dict[int, Any]:
    clean = {int(i) for i in ids if str(i).isdigit()}
    return {obj.pk: obj for obj in model.objects.filter(pk__in=clean)}


def _ref_id(value: Any) -> Any:
    return value.pk if hasattr(value, "pk") else value


def prepare_lines(lines: list[dict[str, Any]], *, price_field: str, with_discount: bool) -> list[dict[str, Any]]:
    """Validate raw line dicts (product, quantity, unit_price, discount_percent, tax_rate; objects or ids) and return
    them with Product/TaxRate objects, Decimals and computed net/tax amounts. Errors name the line."""
    if not lines:
        raise ValidationFailed("An order needs at least one line.", details={"lines": ["At least one line."]})
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
        raise ValidationFailed("Some order lines are invalid.", details=problems)
    return prepared


def totals(lines: list[Any]) -> tuple[Decimal, Decimal, Decimal]:
    subtotal = sum((line["net_amount"] if isinstance(line, dict) else line.net_amount for line in lines), ZERO)
    tax = sum((line["tax_amount"] if isinstance(line, dict) else line.tax_amount for line in lines), ZERO)
    return subtotal, tax, subtotal + tax


def order_actor(actor: Any) -> Any:
    """The user to record as creator, or None for system work (tasks, commands without a user)."""
    return actor if getattr(actor, "is_authenticated", False) else None


def invoice_from_order(
    *,
    order: Any,
    kind: str,
    prefix: str,
    links: dict[str, Any],
    invoice_date: dt.date,
    payment_terms_days: int,
    actor: Any,
) -> Invoice:
    """A customer invoice or supplier bill copying a sales or purchase order's totals and lines (unposted).

    ``links`` names the partner and the order on the invoice, e.g. {"customer": ..., "sales_order": order}."""
    invoice = Invoice(
        number=next_number(prefix),
        kind=kind,
        **links,
        invoice_date=invoice_date,
        due_date=invoice_date + timedelta(days=payment_terms_days),
        subtotal=order.subtotal,
        tax_total=order.tax_total,
        total=order.total,
        created_by=order_actor(actor),
    )
    invoice.save()
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                product_id=line.product_id,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax_rate_id=line.tax_rate_id,
                net_amount=line.net_amount,
                tax_amount=line.tax_amount,
                **({"discount_percent": line.discount_percent} if hasattr(line, "discount_percent") else {}),
            )
            for line in order.lines.all()
        ]
    )
    return invoice
