"""Procure-to-pay and production through the services."""

from decimal import Decimal

import pytest

from apps.core.exceptions import Conflict, ValidationFailed
from apps.erp.models import StockMove
from apps.erp.services import finance, production, purchasing
from tests.erp.factories import ProductFactory, SupplierFactory
from tests.erp.helpers import account_balance, assert_every_entry_balances, level, receive_stock

D = Decimal


def make_po(product, qty="10", price="12.50"):
    return purchasing.purchase_order_create(
        supplier=SupplierFactory(), lines=[{"product": product, "quantity": D(qty), "unit_price": D(price)}]
    )


def test_purchase_lifecycle_with_partial_receipts():
    product = ProductFactory()
    receive_stock(product, 10, "10.00")
    po = make_po(product, "10", "12.50")
    with pytest.raises(Conflict) as exc:
        purchasing.purchase_order_receive(order=po)
    assert exc.value.code == "invalid_transition"
    purchasing.purchase_order_approve(order=po)
    line = po.lines.get()
    purchasing.purchase_order_receive(order=po, quantities={line.pk: D("4")})
    po.refresh_from_db()
    assert po.state == "partially_received" and level(product).on_hand == D("14")
    with pytest.raises(ValidationFailed):
        purchasing.purchase_order_receive(order=po, quantities={line.pk: D("7")})
    purchasing.purchase_order_receive(order=po)
    po.refresh_from_db()
    product.refresh_from_db()
    assert po.state == "received" and level(product).on_hand == D("20")
    assert product.average_cost == D("11.2500")  # (10 x 10 + 10 x 12.5) / 20
    assert account_balance("2050") == D("-125.00")  # GRNI

    bill = purchasing.purchase_order_bill(order=po)
    po.refresh_from_db()
    assert po.state == "billed" and bill.total == D("141.25")
    assert account_balance("2050") == 0
    assert account_balance("1150") == D("16.25")
    assert account_balance("2000") == D("-141.25")
    finance.payment_register(invoice=bill, amount=bill.total)
    po.refresh_from_db()
    assert po.state == "paid" and account_balance("2000") == 0
    assert_every_entry_balances()


def test_purchase_illegal_transitions_and_cancel():
    product = ProductFactory()
    po = make_po(product)
    for action in (purchasing.purchase_order_bill, purchasing.purchase_order_receive):
        with pytest.raises(Conflict):
            action(order=po)
    purchasing.purchase_order_approve(order=po)
    with pytest.raises(Conflict):
        purchasing.purchase_order_approve(order=po)
    purchasing.purchase_order_cancel(order=po)
    with pytest.raises(Conflict):
        purchasing.purchase_order_receive(order=po)


@pytest.fixture
def bom():
    finished = ProductFactory(sku="BIKE")
    frame = ProductFactory(sku="FRAME")
    wheel = ProductFactory(sku="WHEEL")
    receive_stock(frame, 10, "50.00")
    receive_stock(wheel, 10, "20.00")
    return production.bom_create(
        code="BOM-BIKE",
        product=finished,
        lines=[
            {"component": frame, "quantity": D("1")},
            {"component": wheel, "quantity": D("2"), "scrap_percent": D("10")},
        ],
    )


def test_production_rolls_up_cost_in_one_transaction(bom):
    order = production.production_order_create(bom=bom, quantity=D("3"))
    production.production_order_start(order=order)
    frame, wheel = (line.component for line in bom.lines.order_by("id"))
    assert level(frame).reserved == D("3") and level(wheel).reserved == D("6.6")
    production.production_order_complete(order=order)
    order.refresh_from_db()
    # 3 frames x 50 + 6.6 wheels x 20 = 282 for 3 bikes
    assert order.state == "done" and order.unit_cost == D("94.0000")
    assert level(bom.product).on_hand == D("3")
    assert level(frame).on_hand == D("7") and level(wheel).on_hand == D("3.4")
    assert level(frame).reserved == 0 and level(wheel).reserved == 0
    assert StockMove.objects.filter(reference=order.number).count() == 3
    assert account_balance("1210") == 0
    assert_every_entry_balances()


def test_production_refuses_to_start_when_short(bom):
    order = production.production_order_create(bom=bom, quantity=D("5"))
    with pytest.raises(Conflict) as exc:
        production.production_order_start(order=order)
    assert exc.value.code == "insufficient_components"
    short = exc.value.details["short"]
    assert [(s["sku"], s["required"], s["available"], s["missing"]) for s in short] == [
        ("WHEEL", "11.000", "10.000", "1.000")
    ]
    order.refresh_from_db()
    assert order.state == "planned"


def test_production_transitions(bom):
    order = production.production_order_create(bom=bom, quantity=D("1"))
    with pytest.raises(Conflict):
        production.production_order_complete(order=order)
    production.production_order_start(order=order)
    with pytest.raises(Conflict):
        production.production_order_start(order=order)
    production.production_order_cancel(order=order)
    frame = bom.lines.order_by("id").first().component
    assert level(frame).reserved == 0


def test_bom_validation():
    product = ProductFactory()
    with pytest.raises(ValidationFailed):
        production.bom_create(code="B1", product=product, lines=[{"component": product, "quantity": D("1")}])
    with pytest.raises(ValidationFailed):
        production.bom_create(
            code="B2",
            product=product,
            lines=[{"component": ProductFactory(), "quantity": D("1"), "scrap_percent": 100}],
        )
