"""Invoicing delivered (received) quantities in parts and closing an order short, through the services: quantities,
amounts to the cent, postings, states, reservations, aging, credit exposure, audit and the migration's backfill."""

import datetime as dt
import importlib
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from apps.core.exceptions import Conflict
from apps.core.models import AuditLog
from apps.erp.models import Invoice, InvoiceLine, SalesOrder, SalesOrderLine
from apps.erp.selectors import reports
from apps.erp.services import finance, purchasing, sales
from tests.erp.factories import CustomerFactory, ProductFactory, SupplierFactory
from tests.erp.helpers import account_balance, assert_every_entry_balances, level, receive_stock

D = Decimal
JAN, MAR, APR = dt.date(2025, 1, 10), dt.date(2025, 3, 20), dt.date(2025, 4, 30)


@pytest.fixture
def gadget():
    product = ProductFactory(sale_price=D("19.99"))
    receive_stock(product, 20, "8.00")
    return product


@pytest.fixture
def order(gadget):
    """5 gadgets at 19.99 less 7.5% (net 92.45, VAT 12.02) and 2 hours of service at 50.00 (net 100.00, VAT 13.00)."""
    service = ProductFactory(kind="service", sale_price=D("50.00"))
    order = sales.sales_order_create(
        customer=CustomerFactory(payment_terms_days=30),
        lines=[
            {"product": gadget, "quantity": D("5"), "discount_percent": D("7.5")},
            {"product": service, "quantity": D("2")},
        ],
    )
    sales.sales_order_confirm(order=order)
    return order


def lines_of(order):
    return list(order.lines.order_by("id"))


def deliver_part(order, gadget_qty="2"):
    gadget_line, service_line = lines_of(order)
    return sales.sales_order_deliver(order=order, quantities={gadget_line.pk: D(gadget_qty), service_line.pk: D("2")})


def test_partial_invoices_add_up_to_the_order_and_the_order_is_paid_when_both_are(order, gadget):
    deliver_part(order)
    first = sales.sales_order_invoice(order=order, invoice_date=JAN)
    order.refresh_from_db()
    gadget_line, service_line = lines_of(order)
    assert order.state == "partially_delivered"
    assert (gadget_line.quantity_invoiced, service_line.quantity_invoiced) == (D("2"), D("2"))
    assert (gadget_line.quantity_to_invoice, gadget_line.quantity_due) == (D("0"), D("5"))
    # 2 x 19.99 less 7.5% = 36.9815 -> 36.98, VAT 4.81; the service line in full: 100.00 + 13.00
    by_line = {line.sales_order_line_id: line for line in first.lines.all()}
    assert (by_line[gadget_line.pk].quantity, by_line[gadget_line.pk].net_amount) == (D("2"), D("36.98"))
    assert by_line[gadget_line.pk].tax_amount == D("4.81") and by_line[gadget_line.pk].discount_percent == D("7.5")
    assert (by_line[service_line.pk].net_amount, by_line[service_line.pk].tax_amount) == (D("100.00"), D("13.00"))
    assert (first.subtotal, first.tax_total, first.total) == (D("136.98"), D("17.81"), D("154.79"))
    assert first.due_date == JAN + dt.timedelta(days=30) and first.journal_entry_id is not None
    assert account_balance("1100") == D("154.79")

    with pytest.raises(Conflict) as exc:  # nothing delivered since
        sales.sales_order_invoice(order=order)
    assert exc.value.code == "nothing_to_invoice" and exc.value.details["state"] == "partially_delivered"
    assert Invoice.objects.filter(sales_order=order).count() == 1

    sales.sales_order_deliver(order=order)
    second = sales.sales_order_invoice(order=order, invoice_date=MAR)
    order.refresh_from_db()
    assert order.state == "invoiced"
    # the last part takes what the order line leaves: 92.45 - 36.98 and 12.02 - 4.81
    assert [(ln.quantity, ln.net_amount, ln.tax_amount) for ln in second.lines.all()] == [
        (D("3"), D("55.47"), D("7.21"))
    ]
    assert first.total + second.total == order.total == D("217.47")
    assert account_balance("4000") == -order.subtotal and account_balance("2210") == -order.tax_total
    assert account_balance("1100") == order.total

    aging = reports.aging(kind="customer", as_of=APR)
    row = aging["rows"][0]
    assert (row["61_90"], row["0_30"], row["total"]) == (first.total, second.total, order.total)

    finance.payment_register(invoice=second, amount=second.total, date=APR)
    order.refresh_from_db()
    assert order.state == "invoiced"  # the first invoice is still open
    finance.payment_register(invoice=first, amount=first.total, date=APR)
    order.refresh_from_db()
    assert order.state == "paid" and account_balance("1100") == 0 and account_balance("1010") == order.total
    assert reports.aging(kind="customer", as_of=APR)["rows"] == []
    assert_every_entry_balances()
    messages = list(
        AuditLog.objects.filter(target_type="erp.salesorder", target_id=str(order.pk)).values_list("message", flat=True)
    )
    assert f"Invoiced ({first.number}, 154.79)" in messages and f"Invoiced ({second.number}, 62.68)" in messages
    assert AuditLog.objects.filter(target_type="erp.invoice", target_id=str(second.pk), action="create").exists()


def test_a_fully_delivered_order_is_still_invoiced_in_one_invoice(order):
    sales.sales_order_deliver(order=order)
    invoice = sales.sales_order_invoice(order=order)
    order.refresh_from_db()
    assert order.state == "invoiced" and invoice.total == order.total
    assert all(line.quantity_invoiced == line.quantity for line in order.lines.all())
    with pytest.raises(Conflict) as exc:
        sales.sales_order_invoice(order=order)
    assert exc.value.code == "invalid_transition"


def test_close_remaining_releases_the_reservation_and_reprices_the_order(order, gadget):
    deliver_part(order)
    with pytest.raises(Conflict) as exc:
        sales.sales_order_cancel(order=order)
    assert exc.value.code == "invalid_transition" and "close-remaining" in exc.value.message
    assert (level(gadget).on_hand, level(gadget).reserved) == (D("18"), D("3"))
    sales.sales_order_close_remaining(order=order)
    order.refresh_from_db()
    gadget_line = lines_of(order)[0]
    lvl = level(gadget)
    assert (lvl.on_hand, lvl.reserved, lvl.available) == (D("18"), D("0"), D("18"))
    assert order.state == "delivered"
    assert (gadget_line.quantity, gadget_line.quantity_cancelled, gadget_line.quantity_due) == (D("5"), D("3"), D("2"))
    assert (gadget_line.quantity_reserved, gadget_line.net_amount, gadget_line.tax_amount) == (
        D("0"),
        D("36.98"),
        D("4.81"),
    )
    assert (order.subtotal, order.tax_total, order.total) == (D("136.98"), D("17.81"), D("154.79"))
    with pytest.raises(Conflict):
        sales.sales_order_deliver(order=order)  # nothing is left to ship

    invoice = sales.sales_order_invoice(order=order)
    order.refresh_from_db()
    assert order.state == "invoiced" and invoice.total == order.total
    finance.payment_register(invoice=invoice, amount=invoice.total)
    order.refresh_from_db()
    assert order.state == "paid"
    assert_every_entry_balances()
    log = AuditLog.objects.filter(
        target_type="erp.salesorder", target_id=str(order.pk), message__startswith="Remainder closed"
    ).get()
    assert log.changes["quantity_cancelled"] == {str(gadget_line.pk): "3.000"}
    assert log.changes["reservation_released"] == {str(gadget_line.pk): "3.000"}
    assert log.changes["state"] == ["partially_delivered", "delivered"]


def test_closing_after_the_deliveries_were_invoiced_and_paid_settles_the_order(order):
    deliver_part(order)
    invoice = sales.sales_order_invoice(order=order)
    sales.sales_order_close_remaining(order=order)
    order.refresh_from_db()
    assert order.state == "invoiced" and order.total == invoice.total

    other = sales.sales_order_create(
        customer=order.customer, lines=[{"product": lines_of(order)[0].product, "quantity": 4}]
    )
    sales.sales_order_confirm(order=other)
    sales.sales_order_deliver(order=other, quantities={other.lines.get().pk: D("1")})
    paid = sales.sales_order_invoice(order=other)
    finance.payment_register(invoice=paid, amount=paid.total)
    sales.sales_order_close_remaining(order=other)
    other.refresh_from_db()
    assert other.state == "paid"


@pytest.mark.parametrize("state", ["draft", "confirmed", "delivered", "invoiced", "paid", "cancelled"])
def test_close_remaining_is_only_for_partly_delivered_orders(gadget, state):
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": gadget, "quantity": 2}])
    if state == "cancelled":
        sales.sales_order_cancel(order=order)
    if state in ("confirmed", "delivered", "invoiced", "paid"):
        sales.sales_order_confirm(order=order)
    if state in ("delivered", "invoiced", "paid"):
        sales.sales_order_deliver(order=order)
    if state in ("invoiced", "paid"):
        invoice = sales.sales_order_invoice(order=order)
    if state == "paid":
        finance.payment_register(invoice=invoice, amount=invoice.total)
    order.refresh_from_db()
    assert order.state == state
    reserved = level(gadget).reserved
    with pytest.raises(Conflict) as exc:
        sales.sales_order_close_remaining(order=order)
    assert exc.value.code == "invalid_transition" and exc.value.details["state"] == state
    order.refresh_from_db()
    assert order.state == state and level(gadget).reserved == reserved
    assert not order.lines.filter(quantity_cancelled__gt=0).exists()


@pytest.mark.parametrize("state", ["draft", "confirmed", "cancelled"])
def test_invoice_needs_a_delivery(gadget, state):
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": gadget, "quantity": 2}])
    if state == "confirmed":
        sales.sales_order_confirm(order=order)
    if state == "cancelled":
        sales.sales_order_cancel(order=order)
    with pytest.raises(Conflict) as exc:
        sales.sales_order_invoice(order=order)
    assert exc.value.code == "invalid_transition"
    assert not Invoice.objects.filter(sales_order=order).exists()


def test_credit_exposure_counts_a_partly_invoiced_order_once(order):
    customer = order.customer
    assert sales.customer_exposure(customer) == order.total
    deliver_part(order)
    invoice = sales.sales_order_invoice(order=order)
    assert sales.customer_exposure(customer) == order.total  # open invoice + the part not yet invoiced
    finance.payment_register(invoice=invoice, amount=invoice.total)
    assert sales.customer_exposure(customer) == order.total - invoice.total
    sales.sales_order_close_remaining(order=order)
    assert sales.customer_exposure(customer) == 0


def test_sales_report_counts_the_quantities_sold_after_a_close(order, gadget):
    deliver_part(order)
    sales.sales_order_close_remaining(order=order)
    row = next(r for r in reports.sales_by(group="product")["rows"] if r["code"] == gadget.sku)
    assert (row["quantity"], row["net_sales"]) == (D("2"), D("36.98"))


def make_po(qty="10", price="0.35"):
    product = ProductFactory()
    order = purchasing.purchase_order_create(
        supplier=SupplierFactory(), lines=[{"product": product, "quantity": D(qty), "unit_price": D(price)}]
    )
    purchasing.purchase_order_approve(order=order)
    return order, product


def test_purchase_bills_follow_the_receipts_and_clear_grni_to_the_cent():
    po, product = make_po("7", "0.35")  # net 2.45, VAT 0.3185 -> 0.32
    line = po.lines.get()
    purchasing.purchase_order_receive(order=po, quantities={line.pk: D("3")})
    first = purchasing.purchase_order_bill(order=po)
    po.refresh_from_db()
    line.refresh_from_db()
    assert po.state == "partially_received" and line.quantity_billed == D("3")
    assert (first.subtotal, first.tax_total) == (D("1.05"), D("0.14"))  # 0.1365 -> 0.14
    assert account_balance("2050") == 0  # the receipt's GRNI is cleared by its bill
    with pytest.raises(Conflict) as exc:
        purchasing.purchase_order_bill(order=po)
    assert exc.value.code == "nothing_to_invoice"

    purchasing.purchase_order_receive(order=po)
    second = purchasing.purchase_order_bill(order=po)
    po.refresh_from_db()
    assert po.state == "billed"
    assert (second.subtotal, second.tax_total) == (D("1.40"), D("0.18"))  # what the order leaves: 2.45-1.05, 0.32-0.14
    assert first.total + second.total == po.total
    assert (
        account_balance("2050") == 0 and account_balance("2000") == -po.total and account_balance("1150") == D("0.32")
    )
    assert reports.aging(kind="supplier", as_of=dt.date.today())["totals"]["total"] == po.total
    finance.payment_register(invoice=first, amount=first.total)
    po.refresh_from_db()
    assert po.state == "billed"
    finance.payment_register(invoice=second, amount=second.total)
    po.refresh_from_db()
    assert po.state == "paid" and account_balance("2000") == 0
    assert level(product).on_hand == D("7")
    assert_every_entry_balances()


def test_purchase_close_remaining_cancels_what_did_not_arrive():
    po, product = make_po("10", "12.50")
    line = po.lines.get()
    with pytest.raises(Conflict) as exc:
        purchasing.purchase_order_close_remaining(order=po)
    assert exc.value.code == "invalid_transition"
    purchasing.purchase_order_receive(order=po, quantities={line.pk: D("4")})
    purchasing.purchase_order_close_remaining(order=po)
    po.refresh_from_db()
    line.refresh_from_db()
    assert po.state == "received" and (line.quantity_cancelled, line.quantity_due) == (D("6"), D("4"))
    assert (po.subtotal, po.tax_total, po.total) == (D("50.00"), D("6.50"), D("56.50"))
    with pytest.raises(Conflict):
        purchasing.purchase_order_receive(order=po)
    bill = purchasing.purchase_order_bill(order=po)
    po.refresh_from_db()
    assert po.state == "billed" and bill.total == po.total and account_balance("2050") == 0
    assert level(product).on_hand == D("4")
    with pytest.raises(Conflict):
        purchasing.purchase_order_close_remaining(order=po)
    assert AuditLog.objects.filter(
        target_type="erp.purchaseorder", target_id=str(po.pk), message__startswith="Remainder closed"
    ).exists()
    assert_every_entry_balances()


def test_migration_backfills_orders_invoiced_before_partial_invoicing(order):
    sales.sales_order_deliver(order=order)
    invoice = sales.sales_order_invoice(order=order)
    po, _ = make_po("4", "2.00")
    purchasing.purchase_order_receive(order=po)
    bill = purchasing.purchase_order_bill(order=po)
    # the state of the data before the migration: nothing marked invoiced, invoice lines not linked
    SalesOrderLine.objects.filter(order=order).update(quantity_invoiced=0)
    po.lines.update(quantity_billed=0)
    InvoiceLine.objects.filter(invoice__in=[invoice, bill]).update(sales_order_line=None, purchase_order_line=None)

    migration = importlib.import_module("apps.erp.migrations.0003_partial_invoicing")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)

    assert all(line.quantity_invoiced == line.quantity for line in order.lines.all())
    assert po.lines.get().quantity_billed == D("4")
    linked = {line.sales_order_line_id for line in invoice.lines.all()}
    assert linked == set(order.lines.values_list("id", flat=True))
    assert bill.lines.get().purchase_order_line_id == po.lines.get().pk


def _race(*calls) -> list[str]:
    """Run the calls at the same moment, each in its own thread and database connection; their outcomes."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(call) -> None:
        try:
            barrier.wait()
            result = call()
        except Conflict as exc:
            result = exc.code
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_concurrent_invoicing_invoices_each_delivered_quantity_once():
    product = ProductFactory(sale_price=D("10.00"))
    receive_stock(product, 10)
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": D("5")}])
    sales.sales_order_confirm(order=order)
    sales.sales_order_deliver(order=order, quantities={order.lines.get().pk: D("2")})

    def invoice() -> str:
        sales.sales_order_invoice(order=SalesOrder.objects.get(pk=order.pk))
        return "invoiced"

    outcomes = _race(*[invoice] * 4)
    assert sorted(outcomes) == ["invoiced", "nothing_to_invoice", "nothing_to_invoice", "nothing_to_invoice"]
    assert Invoice.objects.filter(sales_order=order).count() == 1
    assert order.lines.get().quantity_invoiced == D("2")


@pytest.mark.django_db(transaction=True)
def test_close_remaining_racing_the_last_delivery_leaves_consistent_stock():
    product = ProductFactory(sale_price=D("10.00"))
    receive_stock(product, 10)
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": D("5")}])
    sales.sales_order_confirm(order=order)
    sales.sales_order_deliver(order=order, quantities={order.lines.get().pk: D("2")})

    def deliver() -> str:
        sales.sales_order_deliver(order=SalesOrder.objects.get(pk=order.pk))
        return "delivered"

    def close() -> str:
        sales.sales_order_close_remaining(order=SalesOrder.objects.get(pk=order.pk))
        return "closed"

    outcomes = _race(deliver, close)
    assert sorted(outcomes) in (["delivered", "invalid_transition"], ["closed", "invalid_transition"])
    order.refresh_from_db()
    line = order.lines.get()
    lvl = level(product)
    assert order.state == "delivered" and lvl.reserved == D("0")
    assert line.quantity_delivered + line.quantity_cancelled == D("5")
    assert lvl.on_hand == D("10") - line.quantity_delivered
