"""Partial invoicing and closing short through the API and the admin: roles, error bodies, Idempotency-Key, query
counts, and the same services behind the admin actions."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from apps.core.models import AuditLog
from apps.core.roles import ADMIN, GUEST, MANAGER, USER
from apps.core.testing import ROLE_NAMES, assert_anonymous_rejected, assert_error_body
from apps.erp.models import Invoice, PurchaseOrder, SalesOrder
from apps.erp.services import purchasing, sales
from tests.erp.factories import CustomerFactory, ProductFactory, SupplierFactory
from tests.erp.helpers import assert_every_entry_balances, level, receive_stock

pytestmark = pytest.mark.django_db
D = Decimal
BASE = "/api/v1/erp"
APPROVERS = {ADMIN, MANAGER}


@pytest.fixture
def product():
    product = ProductFactory(sale_price=D("10.00"))
    receive_stock(product, 100, "4.00")
    return product


def partly_delivered(product, ordered="5", delivered="2") -> SalesOrder:
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": D(ordered)}])
    sales.sales_order_confirm(order=order)
    sales.sales_order_deliver(order=order, quantities={order.lines.get().pk: D(delivered)})
    return order


def partly_received(ordered="10", received="4") -> PurchaseOrder:
    order = purchasing.purchase_order_create(
        supplier=SupplierFactory(),
        lines=[{"product": ProductFactory(), "quantity": D(ordered), "unit_price": D("12.50")}],
    )
    purchasing.purchase_order_approve(order=order)
    purchasing.purchase_order_receive(order=order, quantities={order.lines.get().pk: D(received)})
    return order


@pytest.mark.parametrize(
    ("resource", "make", "action", "success"),
    [
        ("sales-orders", "sale", "invoice", 201),
        ("sales-orders", "sale", "close-remaining", 200),
        ("purchase-orders", "purchase", "bill", 201),
        ("purchase-orders", "purchase", "close-remaining", 200),
    ],
)
def test_each_role_against_the_new_endpoints(role_client, product, resource, make, action, success):
    for role in ROLE_NAMES:
        order = partly_delivered(product) if make == "sale" else partly_received()
        invoices = Invoice.objects.filter(**{"sales_order" if make == "sale" else "purchase_order": order})
        url = f"{BASE}/{resource}/{order.pk}/{action}/"
        assert_anonymous_rejected("post", url)
        response = role_client(role).post(url)
        order.refresh_from_db()
        if role in APPROVERS:
            assert response.status_code == success, (role, response.content[:300])
            assert invoices.exists() if action != "close-remaining" else order.state in ("delivered", "received")
        else:
            assert_error_body(response, 403, "permission_denied")
            assert order.state.startswith("partially_") and not invoices.exists()


def test_sales_api_invoice_in_parts_then_close_and_pay(role_client, product):
    manager = role_client(MANAGER)
    order = partly_delivered(product, "5", "2")
    untouched = partly_delivered(product, "1", "1")
    url = f"{BASE}/sales-orders/{order.pk}"

    def waiting(flag: str) -> set[int]:
        return {row["id"] for row in manager.get(f"{BASE}/sales-orders/?to_invoice={flag}").json()["results"]}

    assert waiting("true") == {order.pk, untouched.pk}
    first = manager.post(f"{url}/invoice/")
    assert first.status_code == 201
    body = first.json()
    assert (body["total"], body["subtotal"], body["sales_order"]) == ("22.60", "20.00", order.pk)
    line = manager.get(f"{url}/").json()["lines"][0]
    assert (line["quantity_invoiced"], line["quantity_to_invoice"], line["quantity_cancelled"]) == (
        "2.000",
        "0.000",
        "0.000",
    )
    assert waiting("true") == {untouched.pk} and order.pk in waiting("false")
    nothing = assert_error_body(manager.post(f"{url}/invoice/"), 409, "nothing_to_invoice")
    assert nothing["details"]["state"] == "partially_delivered"
    assert Invoice.objects.filter(sales_order=order).count() == 1

    assert role_client(USER).post(f"{url}/deliver/", {"lines": [{"line": line["id"], "quantity": "1"}]}).status_code
    second = manager.post(f"{url}/invoice/")
    assert second.status_code == 201 and second.json()["total"] == "11.30"
    closed = manager.post(f"{url}/close-remaining/")
    assert closed.status_code == 200
    body = closed.json()
    assert (body["state"], body["total"]) == ("invoiced", "33.90")
    assert body["lines"][0]["quantity_cancelled"] == "2.000"
    assert level(product).reserved == 0
    assert_error_body(manager.post(f"{url}/close-remaining/"), 409, "invalid_transition")
    assert_error_body(manager.post(f"{url}/invoice/"), 409, "invalid_transition")

    listed = role_client(GUEST).get(f"{BASE}/invoices/?sales_order_id={order.pk}").json()["results"]
    assert len(listed) == 2
    for invoice in listed:
        paid = manager.post(f"{BASE}/payments/", {"invoice": invoice["id"], "amount": invoice["total"]})
        assert paid.status_code == 201
    assert manager.get(f"{url}/").json()["state"] == "paid"
    assert_every_entry_balances()
    assert AuditLog.objects.filter(target_type="erp.salesorder", target_id=str(order.pk)).count() >= 6


def test_close_remaining_is_409_outside_partial_delivery(role_client, product):
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": 1}])
    url = f"{BASE}/sales-orders/{order.pk}/close-remaining/"
    body = assert_error_body(role_client(MANAGER).post(url), 409, "invalid_transition")
    assert body["details"]["allowed_from"] == ["partially_delivered"]
    sales.sales_order_confirm(order=order)
    assert_error_body(role_client(MANAGER).post(url), 409, "invalid_transition")
    assert_error_body(role_client(MANAGER).post(f"{BASE}/sales-orders/999999/close-remaining/"), 404)


def test_idempotency_key_on_invoice_and_close(role_client, product):
    client = role_client(MANAGER)
    order = partly_delivered(product)
    url = f"{BASE}/sales-orders/{order.pk}"
    first = client.post(f"{url}/invoice/", HTTP_IDEMPOTENCY_KEY="inv-1")
    again = client.post(f"{url}/invoice/", HTTP_IDEMPOTENCY_KEY="inv-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert Invoice.objects.filter(sales_order=order).count() == 1
    closed = client.post(f"{url}/close-remaining/", HTTP_IDEMPOTENCY_KEY="close-1")
    replay = client.post(f"{url}/close-remaining/", HTTP_IDEMPOTENCY_KEY="close-1")
    assert closed.status_code == replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert closed.json()["state"] == replay.json()["state"] == "invoiced"
    # a refused request is not remembered under its key
    refused = client.post(f"{url}/invoice/", HTTP_IDEMPOTENCY_KEY="inv-2")
    assert_error_body(refused, 409, "invalid_transition")
    bill_order = partly_received()
    bill_url = f"{BASE}/purchase-orders/{bill_order.pk}/bill/"
    assert client.post(bill_url, HTTP_IDEMPOTENCY_KEY="bill-1").status_code == 201
    assert client.post(bill_url, HTTP_IDEMPOTENCY_KEY="bill-1")["Idempotent-Replayed"] == "true"
    assert Invoice.objects.filter(purchase_order=bill_order).count() == 1


def test_purchase_api_bill_in_parts_and_close(role_client):
    manager = role_client(MANAGER)
    order = partly_received("10", "4")
    url = f"{BASE}/purchase-orders/{order.pk}"
    assert [row["id"] for row in manager.get(f"{BASE}/purchase-orders/?to_bill=true").json()["results"]] == [order.pk]
    assert manager.post(f"{url}/bill/").json()["total"] == "56.50"
    assert manager.get(f"{BASE}/purchase-orders/?to_bill=true").json()["results"] == []
    assert_error_body(manager.post(f"{url}/bill/"), 409, "nothing_to_invoice")
    body = manager.post(f"{url}/close-remaining/").json()
    assert (body["state"], body["total"]) == ("billed", "56.50")
    line = body["lines"][0]
    assert (line["quantity_billed"], line["quantity_cancelled"], line["quantity_to_bill"]) == (
        "4.000",
        "6.000",
        "0.000",
    )


def test_query_counts_of_the_new_endpoints_are_bounded(role_client, product, django_assert_max_num_queries):
    """The counts do not grow with the number of lines (four-line orders here)."""
    client = role_client(MANAGER)
    orders = []
    for _ in range(3):
        order = sales.sales_order_create(
            customer=CustomerFactory(), lines=[{"product": product, "quantity": D("3")} for _ in range(4)]
        )
        sales.sales_order_confirm(order=order)
        sales.sales_order_deliver(order=order, quantities={line.pk: D("1") for line in order.lines.all()})
        orders.append(order)
    client.get(f"{BASE}/products/")  # warm up the auth queries
    with django_assert_max_num_queries(32):
        assert client.post(f"{BASE}/sales-orders/{orders[0].pk}/invoice/").status_code == 201
    sales.sales_order_deliver(order=orders[0])
    with django_assert_max_num_queries(32):  # the last part of each line: amounts invoiced so far are one query
        assert client.post(f"{BASE}/sales-orders/{orders[0].pk}/invoice/").status_code == 201
    with django_assert_max_num_queries(17):
        assert client.post(f"{BASE}/sales-orders/{orders[1].pk}/close-remaining/").status_code == 200
    purchase = partly_received()
    with django_assert_max_num_queries(34):
        assert client.post(f"{BASE}/purchase-orders/{purchase.pk}/bill/").status_code == 201
    with django_assert_max_num_queries(12):
        assert client.get(f"{BASE}/sales-orders/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(f"{BASE}/invoices/?sales_order_id={orders[0].pk}").status_code == 200


# --- admin --------------------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, make_user):
    def _login(role: str):
        client.force_login(make_user(role=role, is_staff=True))
        return client

    return _login


def run_action(client, model: str, action: str, *pks: int):
    return client.post(f"/admin/erp/{model}/", {"action": action, "_selected_action": [str(pk) for pk in pks]})


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_admin_invoices_in_parts_and_closes_through_the_services(staff_client, product):
    manager = staff_client(MANAGER)
    order = partly_delivered(product, "5", "2")
    assert order.number in manager.get("/admin/erp/salesorder/?to_invoice=yes").content.decode()
    run_action(manager, "salesorder", "invoice", order.pk)
    assert order.number not in manager.get("/admin/erp/salesorder/?to_invoice=yes").content.decode()
    assert order.number in manager.get("/admin/erp/salesorder/?to_invoice=no").content.decode()
    assert Invoice.objects.get(sales_order=order).total == D("22.60")
    response = run_action(manager, "salesorder", "invoice", order.pk)
    assert any("Nothing new to invoice" in text for text in texts(response))
    run_action(manager, "salesorder", "close_remaining", order.pk)
    order.refresh_from_db()
    assert order.state == "invoiced" and level(product).reserved == 0
    page = manager.get(f"/admin/erp/salesorder/{order.pk}/change/")
    assert page.status_code == 200 and Invoice.objects.get(sales_order=order).number in page.content.decode()

    po = partly_received()
    run_action(manager, "purchaseorder", "bill", po.pk)
    run_action(manager, "purchaseorder", "close_remaining", po.pk)
    po.refresh_from_db()
    assert po.state == "billed" and po.total == D("56.50")
    assert manager.get(f"/admin/erp/purchaseorder/{po.pk}/change/").status_code == 200


def test_admin_close_remaining_needs_erp_approve(staff_client, product):
    order = partly_delivered(product)
    response = run_action(staff_client(USER), "salesorder", "close_remaining", order.pk)
    assert any("erp.approve" in text for text in texts(response))
    order.refresh_from_db()
    assert order.state == "partially_delivered" and level(product).reserved == D("3")
