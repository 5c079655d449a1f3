"""Double entry: the guarded posting service, the database's own balance check, reversals, reports, aging."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from apps.core.exceptions import Conflict, ValidationFailed
from apps.erp.models import Invoice, JournalEntry, JournalLine
from apps.erp.selectors import reports
from apps.erp.services import finance, sales
from tests.erp.factories import CustomerFactory, ProductFactory, account
from tests.erp.helpers import receive_stock

D = Decimal
TODAY = dt.date(2025, 6, 30)


def post(lines, **kwargs):
    return finance.journal_post(date=kwargs.pop("date", TODAY), lines=lines, **kwargs)


def test_balanced_entry_is_posted():
    entry = post([{"account": "6200", "debit": "1000.00"}, {"account": "1010", "credit": "1000.00"}], memo="Rent")
    assert entry.lines.count() == 2 and entry.number.startswith("JE-")


@pytest.mark.parametrize(
    "lines",
    [
        [{"account": "6200", "debit": "10.00"}, {"account": "1010", "credit": "9.99"}],
        [{"account": "6200", "debit": "10.00"}],
        [{"account": "6200", "debit": "10.00", "credit": "10.00"}, {"account": "1010", "credit": "0"}],
        [{"account": "6200", "debit": "-10.00"}, {"account": "1010", "credit": "-10.00"}],
        [{"account": "6200", "debit": "10.001"}, {"account": "1010", "credit": "10.001"}],
        [{"account": "9999", "debit": "10.00"}, {"account": "1010", "credit": "10.00"}],
    ],
)
def test_unbalanced_or_malformed_entries_are_refused(lines):
    before = JournalEntry.objects.count()
    with pytest.raises(ValidationFailed):
        post(lines)
    assert JournalEntry.objects.count() == before


def test_database_refuses_an_unbalanced_entry_at_commit():
    entry = post([{"account": "6200", "debit": "5.00"}, {"account": "1010", "credit": "5.00"}])
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.create(entry=entry, account=account("6300"), debit=D("1.00"))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_journal_lines_cannot_be_changed():
    entry = post([{"account": "6200", "debit": "5.00"}, {"account": "1010", "credit": "5.00"}])
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.filter(entry=entry).update(debit=D("6.00"))


def test_reversal_mirrors_and_only_once():
    entry = post([{"account": "6200", "debit": "5.00"}, {"account": "1010", "credit": "5.00"}])
    reversal = finance.journal_reverse(entry=entry)
    assert {(line.account.code, line.debit, line.credit) for line in reversal.lines.all()} == {
        ("6200", D("0.00"), D("5.00")),
        ("1010", D("5.00"), D("0.00")),
    }
    with pytest.raises(Conflict):
        finance.journal_reverse(entry=entry)


def _invoiced_order(qty=2, price="100.00", on=TODAY, customer=None):
    product = ProductFactory(sale_price=D(price))
    receive_stock(product, qty, "40.00")
    order = sales.sales_order_create(
        customer=customer or CustomerFactory(), lines=[{"product": product, "quantity": qty}]
    )
    sales.sales_order_confirm(order=order)
    sales.sales_order_deliver(order=order)
    return sales.sales_order_invoice(order=order, invoice_date=on)


def test_reports_agree_with_each_other():
    invoice = _invoiced_order()
    finance.payment_register(invoice=invoice, amount=D("100.00"), date=TODAY)
    post([{"account": "6200", "debit": "30.00"}, {"account": "1010", "credit": "30.00"}], date=TODAY)

    tb = reports.trial_balance(date_to=TODAY)
    assert tb["totals"]["balanced"] and tb["totals"]["debit"] == tb["totals"]["credit"]

    pnl = reports.profit_and_loss(date_from=TODAY, date_to=TODAY)["totals"]
    # revenue 200; COGS 80 is posted on the delivery date (today), rent 30 on TODAY
    assert pnl["income"] == D("200.00") and pnl["expenses"] == D("30.00")

    bs = reports.balance_sheet(date_to=dt.date.today() + dt.timedelta(days=1))["totals"]
    assert bs["balanced"] and bs["assets"] == bs["liabilities_and_equity"]


def test_aging_buckets():
    customer = CustomerFactory(payment_terms_days=0)
    as_of = dt.date(2025, 12, 31)
    for days_overdue in (0, 30, 31, 60, 61, 90, 91, 400):
        _invoiced_order(qty=1, price="100.00", on=as_of - dt.timedelta(days=days_overdue), customer=customer)
    row = reports.aging(kind="customer", as_of=as_of)["rows"][0]
    each = D("113.00")
    assert (row["0_30"], row["31_60"], row["61_90"], row["90_plus"]) == (2 * each, 2 * each, 2 * each, 2 * each)
    assert row["total"] == 8 * each
    paid = Invoice.objects.filter(customer=customer).order_by("invoice_date").first()
    finance.payment_register(invoice=paid, amount=paid.total)
    assert reports.aging(kind="customer", as_of=as_of)["rows"][0]["90_plus"] == each


def test_overpayment_rejected_and_paid_invoice_closed():
    invoice = _invoiced_order()
    with pytest.raises(ValidationFailed) as exc:
        finance.payment_register(invoice=invoice, amount=invoice.total + D("0.01"))
    assert exc.value.code == "overpayment"
    finance.payment_register(invoice=invoice, amount=invoice.total)
    with pytest.raises(Conflict):
        finance.payment_register(invoice=invoice, amount=D("1.00"))
