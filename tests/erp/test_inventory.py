"""Stock ledger: invariants, moving-average cost, no negatives, immutability, reorder suggestions, concurrency."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connections, transaction

from apps.core.exceptions import Conflict, ValidationFailed
from apps.erp.models import SalesOrder, StockLevel, StockMove
from apps.erp.models.inventory import ImmutableRecord
from apps.erp.selectors.inventory import ledger_on_hand, reorder_suggestions
from apps.erp.services import sales
from apps.erp.services.inventory import stock_adjust, stock_transfer
from tests.erp.factories import CustomerFactory, LocationFactory, ProductFactory, main_stock
from tests.erp.helpers import account_balance, level, receive_stock

D = Decimal


def test_moving_average_cost_over_receipts_and_issues():
    product = ProductFactory()
    receive_stock(product, 10, "10.00")
    receive_stock(product, 30, "14.00")
    product.refresh_from_db()
    assert product.average_cost == D("13.0000")  # (100 + 420) / 40
    stock_adjust(product=product, location=main_stock(), quantity=D("-20"), reason="breakage")
    product.refresh_from_db()
    assert product.average_cost == D("13.0000")  # issues do not change the average
    receive_stock(product, 5, "7.00")
    product.refresh_from_db()
    assert product.average_cost == D("11.8000")  # (20 x 13 + 5 x 7) / 25
    assert account_balance("1200") == D("100") + D("420") - D("260") + D("35")


def test_on_hand_always_equals_the_sum_of_moves():
    product = ProductFactory()
    other = LocationFactory()
    receive_stock(product, 12, "5.00")
    stock_transfer(product=product, source=main_stock(), destination=other, quantity=D("4"))
    stock_adjust(product=product, location=other, counted_quantity=D("3"), reason="count")
    for lvl in StockLevel.objects.filter(product=product):
        assert lvl.on_hand == ledger_on_hand(product_id=product.pk, location_id=lvl.location_id)
    assert level(product).on_hand == D("8") and level(product, other).on_hand == D("3")


def test_stockable_never_goes_negative_consumable_may():
    product = ProductFactory()
    receive_stock(product, 2)
    with pytest.raises(Conflict) as exc:
        stock_adjust(product=product, location=main_stock(), quantity=D("-3"))
    assert exc.value.code == "insufficient_stock"
    assert level(product).on_hand == D("2")
    consumable = ProductFactory(kind="consumable")
    stock_adjust(product=consumable, location=main_stock(), quantity=D("-1"), unit_cost=D("1"))
    assert level(consumable).on_hand == D("-1")


def test_reserved_stock_cannot_be_taken_by_an_adjustment():
    product = ProductFactory()
    receive_stock(product, 5)
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": 4}])
    sales.sales_order_confirm(order=order)
    with pytest.raises(Conflict):
        stock_adjust(product=product, location=main_stock(), quantity=D("-2"))


def test_bad_adjustments_are_400():
    product = ProductFactory()
    with pytest.raises(ValidationFailed):
        stock_adjust(product=product, location=main_stock(), quantity=D("0"))
    with pytest.raises(ValidationFailed):
        stock_adjust(product=product, location=main_stock(), quantity=D("1.0001"))
    with pytest.raises(ValidationFailed):
        stock_adjust(product=ProductFactory(kind="service"), location=main_stock(), quantity=D("1"))


def test_moves_are_immutable_in_python_and_in_the_database():
    product = ProductFactory()
    move = receive_stock(product, 1)
    with pytest.raises(ImmutableRecord):
        move.save()
    with pytest.raises(ImmutableRecord):
        move.delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        StockMove.objects.filter(pk=move.pk).update(quantity=D("5"))
    with pytest.raises(IntegrityError), transaction.atomic():
        StockMove.objects.filter(pk=move.pk).delete()


def test_reorder_suggestions():
    low = ProductFactory(reorder_point=D("10"), reorder_quantity=D("25"))
    receive_stock(low, 4)
    very_low = ProductFactory(reorder_point=D("50"), reorder_quantity=D("5"))
    fine = ProductFactory(reorder_point=D("2"))
    receive_stock(fine, 5)
    rows = {row["sku"]: row for row in reorder_suggestions()}
    assert set(rows) == {low.sku, very_low.sku}
    assert rows[low.sku]["suggested_quantity"] == D("25")
    assert rows[very_low.sku]["suggested_quantity"] == D("50")


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_confirmations_never_oversell():
    """20 threads, each with its own connection, confirm orders for the last 5 units of one product."""
    product = ProductFactory()
    receive_stock(product, 5)
    orders = [
        sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": 1}])
        for _ in range(20)
    ]
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def confirm(order_id: int) -> None:
        try:
            barrier.wait()
            sales.sales_order_confirm(order=SalesOrder.objects.get(pk=order_id))
            result = "confirmed"
        except Conflict as exc:
            result = exc.code
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=confirm, args=(order.pk,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("confirmed") == 5
    assert outcomes.count("insufficient_stock") == 15
    lvl = level(product)
    assert (lvl.on_hand, lvl.reserved, lvl.available) == (D("5"), D("5"), D("0"))
    assert SalesOrder.objects.filter(state="confirmed").count() == 5
