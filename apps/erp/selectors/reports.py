"""Financial and sales reports. Each returns {"title", "parameters", "columns", "rows", "totals"} with Decimals, so
the API, CSV export, the command and the admin dashboard all print the same figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.expressions import Combinable
from django.db.models.functions import TruncMonth

from ..choices import AccountType, InvoiceKind, InvoiceState, ProductKind, SalesOrderState
from ..models import Account, Invoice, JournalLine, SalesOrderLine
from .inventory import products_with_stock

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
AGING_BUCKETS = (("0_30", 0, 30), ("31_60", 31, 60), ("61_90", 61, 90), ("90_plus", 91, None))
SALES_STATES = [
    SalesOrderState.CONFIRMED,
    SalesOrderState.PARTIALLY_DELIVERED,
    SalesOrderState.DELIVERED,
    SalesOrderState.INVOICED,
    SalesOrderState.PAID,
]


def _report(title: str, parameters: dict, columns: list[str], rows: list[dict], totals: dict) -> dict[str, Any]:
    return {"title": title, "parameters": parameters, "columns": columns, "rows": rows, "totals": totals}


def _account_sums(date_from: dt.date | None, date_to: dt.date | None) -> dict[int, tuple[Decimal, Decimal]]:
    lines = JournalLine.objects.all()
    if date_from:
        lines = lines.filter(entry__date__gte=date_from)
    if date_to:
        lines = lines.filter(entry__date__lte=date_to)
    sums = lines.values("account_id").annotate(d=Sum("debit"), c=Sum("credit"))
    return {row["account_id"]: (row["d"] or ZERO, row["c"] or ZERO) for row in sums}


def trial_balance(*, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict[str, Any]:
    sums = _account_sums(date_from, date_to)
    rows, total_debit, total_credit = [], ZERO, ZERO
    for account in Account.objects.filter(id__in=sums).order_by("code"):
        debit, credit = sums[account.id]
        total_debit += debit
        total_credit += credit
        rows.append(
            {
                "code": account.code,
                "account": account.name,
                "type": account.type,
                "debit": debit,
                "credit": credit,
                "balance": debit - credit,
            }
        )
    return _report(
        "Trial balance",
        {"date_from": date_from, "date_to": date_to},
        ["code", "account", "type", "debit", "credit", "balance"],
        rows,
        {"debit": total_debit, "credit": total_credit, "balanced": total_debit == total_credit},
    )


def profit_and_loss(*, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict[str, Any]:
    sums = _account_sums(date_from, date_to)
    rows, income, expense = [], ZERO, ZERO
    accounts = Account.objects.filter(id__in=sums, type__in=[AccountType.INCOME, AccountType.EXPENSE])
    for account in accounts.order_by("code"):
        debit, credit = sums[account.id]
        if account.type == AccountType.INCOME:
            amount = credit - debit
            income += amount
        else:
            amount = debit - credit
            expense += amount
        rows.append({"section": account.type, "code": account.code, "account": account.name, "amount": amount})
    return _report(
        "Profit and loss",
        {"date_from": date_from, "date_to": date_to},
        ["section", "code", "account", "amount"],
        rows,
        {"income": income, "expenses": expense, "net_profit": income - expense},
    )


def balance_sheet(*, date_to: dt.date | None = None, date_from: dt.date | None = None) -> dict[str, Any]:
    """Balances at ``date_to`` (everything posted up to it). Income less expenses to date is shown as current
    earnings in equity, so assets = liabilities + equity whenever every entry balances."""
    sums = _account_sums(None, date_to)
    rows = []
    totals = {AccountType.ASSET: ZERO, AccountType.LIABILITY: ZERO, AccountType.EQUITY: ZERO}
    earnings = ZERO
    for account in Account.objects.filter(id__in=sums).order_by("code"):
        debit, credit = sums[account.id]
        if account.type == AccountType.INCOME:
            earnings += credit - debit
            continue
        if account.type == AccountType.EXPENSE:
            earnings -= debit - credit
            continue
        amount = debit - credit if account.type == AccountType.ASSET else credit - debit
        totals[account.type] += amount
        rows.append({"section": account.type, "code": account.code, "account": account.name, "amount": amount})
    rows.append({"section": AccountType.EQUITY, "code": "", "account": "Current earnings", "amount": earnings})
    totals[AccountType.EQUITY] += earnings
    liabilities_equity = totals[AccountType.LIABILITY] + totals[AccountType.EQUITY]
    return _report(
        "Balance sheet",
        {"date_to": date_to},
        ["section", "code", "account", "amount"],
        rows,
        {
            "assets": totals[AccountType.ASSET],
            "liabilities": totals[AccountType.LIABILITY],
            "equity": totals[AccountType.EQUITY],
            "liabilities_and_equity": liabilities_equity,
            "balanced": totals[AccountType.ASSET] == liabilities_equity,
        },
    )


def aging(*, kind: str = InvoiceKind.CUSTOMER, as_of: dt.date) -> dict[str, Any]:
    """Open amounts per partner by days past due: 0-30 (including not yet due), 31-60, 61-90, 90+."""
    invoices = (
        Invoice.objects.filter(kind=kind, state=InvoiceState.OPEN, invoice_date__lte=as_of)
        .select_related("customer", "supplier")
        .order_by("due_date", "id")
    )
    by_partner: dict[int, dict[str, Any]] = {}
    totals = {name: ZERO for name, _, _ in AGING_BUCKETS} | {"total": ZERO}
    for invoice in invoices:
        partner = invoice.customer if kind == InvoiceKind.CUSTOMER else invoice.supplier
        row = by_partner.setdefault(
            partner.pk,
            {"partner_id": partner.pk, "code": partner.code, "partner": partner.name}
            | {name: ZERO for name, _, _ in AGING_BUCKETS}
            | {"total": ZERO},
        )
        days = max(0, (as_of - invoice.due_date).days)
        bucket = next(name for name, low, high in AGING_BUCKETS if days >= low and (high is None or days <= high))
        amount = invoice.total - invoice.amount_paid
        row[bucket] += amount
        row["total"] += amount
        totals[bucket] += amount
        totals["total"] += amount
    rows = sorted(by_partner.values(), key=lambda r: (-r["total"], r["code"]))
    title = "Accounts receivable aging" if kind == InvoiceKind.CUSTOMER else "Accounts payable aging"
    columns = ["code", "partner", *(name for name, _, _ in AGING_BUCKETS), "total"]
    return _report(title, {"as_of": as_of, "kind": kind}, columns, rows, totals)


def sales_by(*, group: str, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict[str, Any]:
    """Net sales of confirmed orders grouped by customer, product or month."""
    lines = SalesOrderLine.objects.filter(order__state__in=SALES_STATES)
    if date_from:
        lines = lines.filter(order__order_date__gte=date_from)
    if date_to:
        lines = lines.filter(order__order_date__lte=date_to)
    fields: list[str] = []
    keys: dict[str, Combinable]
    if group == "customer":
        keys = {
            "customer_id": F("order__customer_id"),
            "code": F("order__customer__code"),
            "name": F("order__customer__name"),
        }
        columns = ["code", "name", "orders", "quantity", "net_sales"]
        order_by = ["-net_sales", "code"]
    elif group == "product":
        fields = ["product_id"]
        keys = {"code": F("product__sku"), "name": F("product__name")}
        columns = ["code", "name", "orders", "quantity", "net_sales"]
        order_by = ["-net_sales", "code"]
    elif group == "month":
        keys = {"month": TruncMonth("order__order_date")}
        columns = ["month", "orders", "quantity", "net_sales"]
        order_by = ["month"]
    else:
        raise ValueError(group)
    qs = (
        lines.values(*fields, **keys)
        .annotate(
            orders=Count("order_id", distinct=True),
            quantity=Sum(F("quantity") - F("quantity_cancelled")),
            net_sales=Sum("net_amount"),
        )
        .order_by(*order_by)
    )
    rows = []
    for row in qs:
        if "month" in row and row["month"] is not None:
            row["month"] = row["month"].strftime("%Y-%m") if hasattr(row["month"], "strftime") else row["month"]
        rows.append(row)
    total = sum((r["net_sales"] or ZERO for r in rows), ZERO)
    return _report(
        f"Sales by {group}",
        {"date_from": date_from, "date_to": date_to, "group": group},
        columns,
        rows,
        {"net_sales": total},
    )


def inventory_valuation() -> dict[str, Any]:
    qs = (
        products_with_stock()
        .filter(kind__in=[ProductKind.STOCKABLE, ProductKind.CONSUMABLE])
        .filter(~Q(on_hand=0))
        .order_by("sku")
        .values("id", "sku", "name", "on_hand", "reserved", "average_cost")
    )
    rows, total = [], ZERO
    for row in qs:
        value = (row["on_hand"] * row["average_cost"]).quantize(CENT)
        total += value
        rows.append(
            {
                "sku": row["sku"],
                "name": row["name"],
                "on_hand": row["on_hand"],
                "reserved": row["reserved"],
                "average_cost": row["average_cost"],
                "value": value,
            }
        )
    return _report(
        "Inventory valuation",
        {},
        ["sku", "name", "on_hand", "reserved", "average_cost", "value"],
        rows,
        {"value": total, "products": len(rows)},
    )
