"""Double-entry postings: the one guarded posting service, reversals, invoice postings and payments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, NotFound, ValidationFailed

from .. import conf
from ..choices import EntrySource, InvoiceKind, InvoiceState, PurchaseOrderState, SalesOrderState
from ..models import Account, Invoice, JournalEntry, JournalLine, Payment, PurchaseOrder, SalesOrder
from .common import ZERO, as_decimal, audit, next_number, q2

_ACCOUNT_CACHE: dict[str, int] = {}


def account_id(role: str) -> int:
    """Id of the account configured for ``role`` (receivable, revenue, ...)."""
    code = conf.account_codes()[role]
    if code not in _ACCOUNT_CACHE:
        found = Account.objects.filter(code=code).values_list("id", flat=True).first()
        if found is None:
            raise NotFound(
                gettext("Account %(code)s (%(role)s) does not exist.") % {"code": code, "role": role},
                code="account_missing",
            )
        _ACCOUNT_CACHE[code] = found
    return _ACCOUNT_CACHE[code]


def _resolve_accounts(lines: list[dict[str, Any]]) -> dict[Any, Account]:
    ids = {line["account"] for line in lines if isinstance(line.get("account"), int)}
    codes = {line["account"] for line in lines if isinstance(line.get("account"), str)}
    found = {a.id: a for a in Account.objects.filter(id__in=ids)}
    found.update({a.code: a for a in Account.objects.filter(code__in=codes)})
    return found


@transaction.atomic
def journal_post(
    *,
    date: dt.date,
    lines: Iterable[dict[str, Any]],
    memo: str = "",
    source: str = EntrySource.MANUAL,
    reference: str = "",
    actor: Any = None,
    reversal_of: JournalEntry | None = None,
) -> JournalEntry:
    """Post one balanced entry. ``lines``: dicts with ``account`` (id or code), ``debit``, ``credit`` and an optional
    ``description``. Refuses unbalanced, empty, one-sided or zero entries with 400 ``unbalanced_entry``/``invalid``;
    the database checks the balance again at commit."""
    lines = [dict(line) for line in lines]
    if len(lines) < 2:
        raise ValidationFailed(gettext("A journal entry needs at least two lines."), code="unbalanced_entry")
    accounts = _resolve_accounts(lines)
    problems: dict[str, list[str]] = {}
    total_debit = total_credit = ZERO
    prepared: list[JournalLine] = []
    for index, line in enumerate(lines):
        key = f"lines[{index}]"
        try:
            debit = as_decimal(line.get("debit") or 0, field="debit", places=2)
            credit = as_decimal(line.get("credit") or 0, field="credit", places=2)
        except ValidationFailed as exc:
            problems[key] = [exc.message]
            continue
        account = accounts.get(line.get("account"))
        if account is None:
            problems[key] = [f"Unknown account {line.get('account')!r}."]
            continue
        if not account.active:
            problems[key] = [f"Account {account.code} is inactive."]
            continue
        if (debit > 0) == (credit > 0):
            problems[key] = ["Exactly one of debit and credit must be greater than zero."]
            continue
        total_debit += debit
        total_credit += credit
        prepared.append(
            JournalLine(account=account, debit=debit, credit=credit, description=str(line.get("description", ""))[:255])
        )
    if problems:
        raise ValidationFailed(gettext("The journal entry has invalid lines."), details=problems)
    if total_debit != total_credit:
        raise ValidationFailed(
            gettext("The journal entry does not balance."),
            code="unbalanced_entry",
            details={
                "debit": str(total_debit),
                "credit": str(total_credit),
                "difference": str(total_debit - total_credit),
            },
        )
    entry = JournalEntry(
        number=next_number("JE"),
        date=date,
        memo=memo[:255],
        source=source,
        reference=reference[:64],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        reversal_of=reversal_of,
    )
    entry.full_clean()
    entry.save()
    for journal_line in prepared:
        journal_line.entry = entry
    JournalLine.objects.bulk_create(prepared)
    audit(
        actor=actor,
        target=entry,
        action=AuditAction.CREATE,
        message=f"Journal entry posted ({source}): {total_debit}",
        changes={"total": [None, str(total_debit)], "reference": [None, reference]},
    )
    return entry


@transaction.atomic
def journal_reverse(*, entry: JournalEntry, actor: Any = None, date: dt.date | None = None) -> JournalEntry:
    """Post the mirror image of ``entry`` (the only way to correct a posted entry)."""
    entry = JournalEntry.objects.select_for_update().get(pk=entry.pk)
    if JournalEntry.objects.filter(reversal_of=entry).exists():
        raise Conflict(
            gettext("Journal entry %(entry)s is already reversed.") % {"entry": entry}, code="already_reversed"
        )
    if entry.source == EntrySource.REVERSAL:
        raise Conflict(gettext("A reversal cannot itself be reversed."), code="invalid_transition")
    lines = [
        {"account": line.account_id, "debit": line.credit, "credit": line.debit, "description": line.description}
        for line in entry.lines.all()
    ]
    return journal_post(
        date=date or timezone.localdate(),
        lines=lines,
        memo=f"Reversal of {entry.number}",
        source=EntrySource.REVERSAL,
        reference=entry.number,
        actor=actor,
        reversal_of=entry,
    )


def post_simple(
    *, date: dt.date, debit: str, credit: str, amount: Decimal, memo: str, source: str, reference: str, actor: Any
) -> JournalEntry | None:
    """A two-line entry between configured accounts; nothing is posted for a zero amount."""
    amount = q2(amount)
    if amount <= 0:
        return None
    return journal_post(
        date=date,
        lines=[
            {"account": account_id(debit), "debit": amount, "credit": 0},
            {"account": account_id(credit), "debit": 0, "credit": amount},
        ],
        memo=memo,
        source=source,
        reference=reference,
        actor=actor,
    )


def invoice_post(*, invoice: Invoice, actor: Any = None, grni_amount: Decimal | None = None) -> JournalEntry:
    """Customer invoice: Dr receivable / Cr revenue / Cr output VAT. Supplier bill: Dr GRNI (what the receipts put
    there; any price difference to purchases) and Dr input VAT / Cr payable."""
    if invoice.kind == InvoiceKind.CUSTOMER:
        lines = [{"account": account_id("receivable"), "debit": invoice.total, "credit": 0}]
        if invoice.subtotal > 0:
            lines.append({"account": account_id("revenue"), "debit": 0, "credit": invoice.subtotal})
        if invoice.tax_total > 0:
            lines.append({"account": account_id("output_vat"), "debit": 0, "credit": invoice.tax_total})
        source = EntrySource.CUSTOMER_INVOICE
    else:
        grni = q2(grni_amount if grni_amount is not None else invoice.subtotal)
        lines = []
        if grni > 0:
            lines.append({"account": account_id("grni"), "debit": grni, "credit": 0})
        variance = invoice.subtotal - grni
        if variance:
            side = {"debit": variance, "credit": 0} if variance > 0 else {"debit": 0, "credit": -variance}
            lines.append({"account": account_id("purchases_expense"), **side, "description": "Price difference"})
        if invoice.tax_total > 0:
            lines.append({"account": account_id("input_vat"), "debit": invoice.tax_total, "credit": 0})
        lines.append({"account": account_id("payable"), "debit": 0, "credit": invoice.total})
        source = EntrySource.SUPPLIER_BILL
    entry = journal_post(
        date=invoice.invoice_date,
        lines=lines,
        memo=f"{invoice.get_kind_display()} {invoice.number}",
        source=source,
        reference=invoice.number,
        actor=actor,
    )
    Invoice.objects.filter(pk=invoice.pk).update(journal_entry=entry)
    invoice.journal_entry = entry
    return entry


@transaction.atomic
def payment_register(
    *,
    invoice: Invoice,
    amount: Any,
    date: dt.date | None = None,
    method: str = "bank",
    reference: str = "",
    actor: Any = None,
) -> Payment:
    """Pay (part of) an invoice or bill. Over-payment is refused with 400 ``overpayment``; a fully paid invoice
    marks its order paid once all of the order's invoices are paid."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    amount = as_decimal(amount, field="amount", places=2, positive=True)
    if invoice.state == InvoiceState.PAID:
        raise Conflict(
            gettext("Invoice %(invoice)s is already paid.") % {"invoice": invoice}, code="invalid_transition"
        )
    open_amount = invoice.total - invoice.amount_paid
    if amount > open_amount:
        raise ValidationFailed(
            gettext("The payment exceeds the open amount of %(open_amount)s.") % {"open_amount": open_amount},
            code="overpayment",
            details={"amount": str(amount), "open_amount": str(open_amount)},
        )
    date = date or timezone.localdate()
    payment = Payment(
        number=next_number("PAY"),
        invoice=invoice,
        amount=amount,
        date=date,
        method=method,
        reference=reference,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    payment.full_clean()
    payment.save()
    if invoice.kind == InvoiceKind.CUSTOMER:
        debit, credit = "cash", "receivable"
    else:
        debit, credit = "payable", "cash"
    entry = post_simple(
        date=date,
        debit=debit,
        credit=credit,
        amount=amount,
        memo=f"Payment {payment.number} for {invoice.number}",
        source=EntrySource.PAYMENT,
        reference=payment.number,
        actor=actor,
    )
    Payment.objects.filter(pk=payment.pk).update(journal_entry=entry)
    payment.journal_entry = entry
    invoice.amount_paid += amount
    if invoice.amount_paid == invoice.total:
        invoice.state = InvoiceState.PAID
        invoice.is_overdue = False
    invoice.save(update_fields=["amount_paid", "state", "is_overdue", "updated_at"])
    if invoice.state == InvoiceState.PAID:
        _mark_order_paid(invoice)
    audit(
        actor=actor,
        target=payment,
        action=AuditAction.CREATE,
        message=f"Payment of {amount} on {invoice.number}",
        changes={"amount": [None, str(amount)], "invoice": [None, invoice.number]},
    )
    return payment


def _mark_order_paid(invoice: Invoice) -> None:
    order: SalesOrder | PurchaseOrder | None
    invoiced: str
    paid: str
    if invoice.sales_order_id:
        order, invoiced, paid = invoice.sales_order, SalesOrderState.INVOICED, SalesOrderState.PAID
    elif invoice.purchase_order_id:
        order, invoiced, paid = invoice.purchase_order, PurchaseOrderState.BILLED, PurchaseOrderState.PAID
    else:
        return
    if order is not None and order.state == invoiced and not order_has_open_invoices(order):
        type(order).objects.filter(pk=order.pk).update(state=paid, updated_at=timezone.now())


def order_has_open_invoices(order: Any) -> bool:
    related = order.invoices if hasattr(order, "invoices") else order.bills
    return related.filter(state=InvoiceState.OPEN).exists()
