"""Order-to-cash through the services: totals, every legal and illegal transition, reservations, postings."""

from decimal import Decimal

import pytest

from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.models import AuditLog
from apps.core.roles import MANAGER
from apps.erp.models import Invoice, StockMove
from apps.erp.services import finance, sales
from tests.core.factories import UserFactory
from tests.erp.factories import CustomerFactory, ProductFactory, vat
from tests.erp.helpers import account_balance, assert_every_entry_balances, level, receive_stock

D = Decimal


@pytest.fixture
def actor():
    return UserFactory(role=MANAGER)


@pytest.fixture
def stocked():
    product = ProductFactory(sale_price=D("19.99"))
    receive_stock(product, 10, "8.00")
    return product


def make_order(product, qty="3", customer=None, **line):
    return sales.sales_order_create(
        customer=customer or CustomerFactory(), lines=[{"product": product, "quantity": D(qty), **line}]
    )


def test_totals_round_half_up_per_line(stocked):
    order = sales.sales_order_create(
        customer=CustomerFactory(),
        lines=[
            {"product": stocked, "quantity": D("3"), "unit_price": D("19.99"), "discount_percent": D("7.5")},
            {"product": stocked, "quantity": D("1.5"), "unit_price": D("0.35"), "tax_rate": vat("VAT9")},
        ],
    )
    lines = list(order.lines.order_by("id"))
    # 3 x 19.99 = 59.97, less 7.5% = 55.47225 -> 55.47; VAT 13% = 7.2111 -> 7.21
    assert (lines[0].net_amount, lines[0].tax_amount) == (D("55.47"), D("7.21"))
    # 1.5 x 0.35 = 0.525 -> 0.53; VAT 9% = 0.0477 -> 0.05
    assert (lines[1].net_amount, lines[1].tax_amount) == (D("0.53"), D("0.05"))
    assert (order.subtotal, order.tax_total, order.total) == (D("56.00"), D("7.26"), D("63.26"))
    assert order.state == "draft" and order.number.startswith("SO-")


def test_bad_lines_are_refused_and_nothing_is_written(stocked):
    customer = CustomerFactory()
    cases = [
        [{"product": stocked, "quantity": D("0")}],
        [{"product": stocked, "quantity": D("-1")}],
        [{"product": stocked, "quantity": D("1"), "unit_price": D("1.001")}],
        [{"product": stocked, "quantity": D("1"), "unit_price": D("1e12")}],
        [{"product": 999999, "quantity": D("1")}],
        [{"product": stocked, "quantity": D("1"), "discount_percent": D("101")}],
        [],
    ]
    for lines in cases:
        with pytest.raises(ValidationFailed):
            sales.sales_order_create(customer=customer, lines=lines)
    assert not customer.sales_orders.exists()


def test_full_lifecycle_reserves_delivers_invoices_and_is_paid(stocked, actor):
    order = make_order(stocked, "4")
    sales.sales_order_confirm(order=order, actor=actor)
    assert level(stocked).reserved == D("4") and level(stocked).available == D("6")

    delivery = sales.sales_order_deliver(order=order, actor=actor)
    order.refresh_from_db()
    assert order.state == "delivered" and delivery.number.startswith("DN-")
    lvl = level(stocked)
    assert (lvl.on_hand, lvl.reserved) == (D("6"), D("0"))
    move = StockMove.objects.get(kind="delivery", product=stocked)
    assert move.unit_cost == D("8.0000") and move.reference == delivery.number
    assert account_balance("5000") == D("32.00")  # COGS 4 x 8

    invoice = sales.sales_order_invoice(order=order, actor=actor)
    order.refresh_from_db()
    assert order.state == "invoiced"
    assert invoice.total == order.total and invoice.journal_entry is not None
    assert account_balance("1100") == order.total
    assert account_balance("4000") == -order.subtotal
    assert account_balance("2210") == -order.tax_total

    finance.payment_register(invoice=invoice, amount=D("10.00"), actor=actor)
    invoice.refresh_from_db()
    assert invoice.state == "open" and invoice.amount_paid == D("10.00")
    with pytest.raises(ValidationFailed) as exc:
        finance.payment_register(invoice=invoice, amount=invoice.total, actor=actor)
    assert exc.value.code == "overpayment"
    finance.payment_register(invoice=invoice, amount=invoice.total - D("10.00"), actor=actor)
    invoice.refresh_from_db()
    order.refresh_from_db()
    assert invoice.state == "paid" and order.state == "paid"
    assert account_balance("1100") == 0
    assert account_balance("1010") == order.total
    assert_every_entry_balances()
    assert AuditLog.objects.filter(target_type="erp.salesorder", target_id=str(order.pk)).count() >= 4


def test_partial_deliveries_then_double_delivery_is_refused(stocked, actor):
    order = make_order(stocked, "5")
    sales.sales_order_confirm(order=order)
    line = order.lines.get()
    sales.sales_order_deliver(order=order, quantities={line.pk: D("2")})
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.state == "partially_delivered" and line.quantity_delivered == D("2")
    assert level(stocked).reserved == D("3")
    with pytest.raises(ValidationFailed) as exc:
        sales.sales_order_deliver(order=order, quantities={line.pk: D("4")})
    assert exc.value.code == "over_delivery"
    assert sales.sales_order_invoice(order=order).lines.get().quantity == D("2")  # what has shipped so far
    sales.sales_order_deliver(order=order)
    order.refresh_from_db()
    assert order.state == "delivered"
    with pytest.raises(Conflict) as exc:
        sales.sales_order_deliver(order=order)
    assert exc.value.code == "invalid_transition"
    assert level(stocked).on_hand == D("5")


ILLEGAL = {
    "draft": ["deliver", "invoice"],
    "confirmed": ["confirm", "invoice"],
    "delivered": ["confirm", "cancel", "deliver"],
    "invoiced": ["confirm", "cancel", "deliver", "invoice"],
    "cancelled": ["confirm", "cancel", "deliver", "invoice"],
}


def _bring_to(state, product):
    order = make_order(product, "1")
    if state in ("confirmed", "delivered", "invoiced"):
        sales.sales_order_confirm(order=order)
    if state in ("delivered", "invoiced"):
        sales.sales_order_deliver(order=order)
    if state == "invoiced":
        sales.sales_order_invoice(order=order)
    if state == "cancelled":
        sales.sales_order_cancel(order=order)
    order.refresh_from_db()
    assert order.state == state
    return order


@pytest.mark.parametrize("state", list(ILLEGAL))
def test_illegal_transitions_are_409(stocked, state):
    actions = {
        "confirm": sales.sales_order_confirm,
        "deliver": sales.sales_order_deliver,
        "invoice": sales.sales_order_invoice,
        "cancel": sales.sales_order_cancel,
    }
    order = _bring_to(state, stocked)
    for name in ILLEGAL[state]:
        with pytest.raises(Conflict) as exc:
            actions[name](order=order)
        assert exc.value.code == "invalid_transition", (state, name)
        order.refresh_from_db()
        assert order.state == state


def test_cancel_releases_reservations(stocked):
    order = make_order(stocked, "7")
    sales.sales_order_confirm(order=order)
    assert level(stocked).reserved == D("7")
    sales.sales_order_cancel(order=order)
    assert level(stocked).reserved == D("0")
    assert make_order(stocked, "1").state == "draft"  # drafts can be cancelled too
    assert sales.sales_order_cancel(order=make_order(stocked, "1")).state == "cancelled"


def test_confirm_refuses_more_than_available(stocked):
    first = make_order(stocked, "8")
    sales.sales_order_confirm(order=first)
    second = make_order(stocked, "3")
    with pytest.raises(Conflict) as exc:
        sales.sales_order_confirm(order=second)
    assert exc.value.code == "insufficient_stock"
    assert exc.value.details["available"] == "2.000"
    second.refresh_from_db()
    assert second.state == "draft" and level(stocked).reserved == D("8")


def test_credit_limit_counts_open_invoices_and_orders(stocked):
    customer = CustomerFactory(credit_limit=D("100.00"))
    first = make_order(stocked, "3", customer=customer, unit_price=D("20.00"))  # 67.80 with VAT
    sales.sales_order_confirm(order=first)
    second = make_order(stocked, "2", customer=customer, unit_price=D("20.00"))  # 45.20
    with pytest.raises(Conflict) as exc:
        sales.sales_order_confirm(order=second)
    assert exc.value.code == "credit_limit_exceeded"


def test_services_have_no_stock_but_can_be_sold(stocked):
    service = ProductFactory(kind="service", sale_price=D("50.00"))
    order = sales.sales_order_create(
        customer=CustomerFactory(),
        lines=[{"product": service, "quantity": D("2")}, {"product": stocked, "quantity": 1}],
    )
    sales.sales_order_confirm(order=order)
    sales.sales_order_deliver(order=order)
    invoice = sales.sales_order_invoice(order=order)
    assert not StockMove.objects.filter(product=service).exists()
    assert Invoice.objects.get(pk=invoice.pk).lines.count() == 2


def test_lines_of_a_confirmed_order_are_locked(stocked):
    order = make_order(stocked, "1")
    sales.sales_order_confirm(order=order)
    with pytest.raises(Conflict) as exc:
        sales.sales_order_update(order=order, lines=[{"product": stocked, "quantity": D("2")}])
    assert exc.value.code == "order_locked"
