"""The ERP API: permissions per role on every endpoint, nested order writes, transitions, idempotency, reports."""

from decimal import Decimal

import pytest

from apps.core.models import AuditLog, IdempotencyKey
from apps.core.roles import ADMIN, GUEST, MANAGER, USER
from apps.core.testing import assert_anonymous_rejected, assert_error_body, assert_role_access
from apps.erp.models import Payment, SalesOrder
from apps.erp.services import sales
from tests.erp.factories import CustomerFactory, ProductFactory, SupplierFactory, main_stock, vat
from tests.erp.helpers import receive_stock

D = Decimal
ALL = {ADMIN, MANAGER, USER, GUEST}
WRITERS = {ADMIN, MANAGER, USER}
APPROVERS = {ADMIN, MANAGER}
BASE = "/api/v1/erp"

LISTS = [
    "tax-rates",
    "product-categories",
    "customers",
    "suppliers",
    "products",
    "warehouses",
    "locations",
    "stock-levels",
    "stock-moves",
    "sales-orders",
    "deliveries",
    "purchase-orders",
    "receipts",
    "boms",
    "production-orders",
    "accounts",
    "journal-entries",
    "invoices",
    "payments",
    "stock-levels/reorder-suggestions",
    "reports/sales",
    "reports/inventory-valuation",
]
FINANCIAL_REPORTS = ["dashboard", "trial-balance", "profit-and-loss", "balance-sheet", "ar-aging", "ap-aging"]


@pytest.mark.parametrize("resource", LISTS)
def test_everyone_with_erp_read_can_list(role_client, resource):
    assert_role_access(role_client, "get", f"{BASE}/{resource}/", ALL)
    assert_anonymous_rejected("get", f"{BASE}/{resource}/")


@pytest.mark.parametrize("report", FINANCIAL_REPORTS)
def test_financial_reports_need_erp_approve(role_client, report):
    assert_role_access(role_client, "get", f"{BASE}/reports/{report}/", APPROVERS)


def test_master_data_writes_need_erp_write(role_client):
    n = iter(range(100))
    assert_role_access(
        role_client,
        "post",
        f"{BASE}/customers/",
        WRITERS,
        data=lambda role: {"code": f"C-{role}-{next(n)}", "name": "Acme", "tax_id": "TAX-1", "credit_limit": "500.00"},
    )
    assert_role_access(
        role_client,
        "post",
        f"{BASE}/products/",
        WRITERS,
        data=lambda role: {"sku": f"P-{role}-{next(n)}", "name": "Widget", "sale_price": "9.99", "tax_rate": vat().pk},
    )
    assert_role_access(
        role_client, "post", f"{BASE}/suppliers/", WRITERS, data=lambda role: {"code": f"S-{role}", "name": "Sup"}
    )
    assert_role_access(
        role_client, "post", f"{BASE}/warehouses/", WRITERS, data=lambda role: {"code": f"W-{role}", "name": "W"}
    )
    assert_role_access(
        role_client,
        "post",
        f"{BASE}/accounts/",
        APPROVERS,
        data=lambda role: {"code": f"7{role}", "name": "X", "type": "expense"},
    )
    assert AuditLog.objects.filter(target_type="erp.customer", action="create").count() == 3


def test_customer_secrets_are_encrypted_and_returned_to_readers(role_client):
    response = role_client(USER).post(
        f"{BASE}/customers/", {"code": "C1", "name": "Acme", "tax_id": "91310000X", "bank_account": "6222 1111"}
    )
    assert response.status_code == 201
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT tax_id FROM erp_customer WHERE code = 'C1'")
        assert b"91310000X" not in bytes(cursor.fetchone()[0])
    assert role_client(GUEST).get(f"{BASE}/customers/{response.json()['id']}/").json()["tax_id"] == "91310000X"


def test_duplicate_sku_and_bad_prices_are_400(role_client):
    client = role_client(USER)
    ProductFactory(sku="DUP")
    assert_error_body(client.post(f"{BASE}/products/", {"sku": "DUP", "name": "x"}), 400, "invalid")
    assert_error_body(client.post(f"{BASE}/products/", {"sku": "N1", "name": "x", "sale_price": "1.999"}), 400)
    assert_error_body(client.post(f"{BASE}/products/", {"sku": "N2", "name": "x", "sale_price": "1e15"}), 400)


def test_deleting_a_product_in_use_is_409(role_client):
    product = ProductFactory()
    receive_stock(product, 1)
    assert_error_body(role_client(USER).delete(f"{BASE}/products/{product.pk}/"), 409, "in_use")


def _order_payload(product, qty="2"):
    return {
        "customer": CustomerFactory().pk,
        "lines": [{"product": product.pk, "quantity": qty, "discount_percent": "5"}],
    }


def test_sales_order_api_flow_and_roles(role_client):
    product = ProductFactory(sale_price=D("10.00"))
    receive_stock(product, 100)
    assert_role_access(role_client, "post", f"{BASE}/sales-orders/", WRITERS, data=lambda r: _order_payload(product))
    response = role_client(USER).post(f"{BASE}/sales-orders/", _order_payload(product))
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "draft" and body["total"] == "21.47" and len(body["lines"]) == 1
    order_url = f"{BASE}/sales-orders/{body['id']}"

    assert_error_body(role_client(USER).post(f"{order_url}/confirm/"), 403, "permission_denied")
    assert_error_body(role_client(GUEST).post(f"{order_url}/deliver/"), 403, "permission_denied")
    assert_error_body(role_client(MANAGER).post(f"{order_url}/deliver/"), 409, "invalid_transition")
    assert role_client(MANAGER).post(f"{order_url}/confirm/").json()["state"] == "confirmed"
    assert_error_body(role_client(MANAGER).post(f"{order_url}/confirm/"), 409, "invalid_transition")
    assert_error_body(
        role_client(USER).patch(f"{order_url}/", {"lines": [{"product": product.pk, "quantity": "1"}]}), 409
    )
    line_id = body["lines"][0]["id"]
    partial = role_client(USER).post(f"{order_url}/deliver/", {"lines": [{"line": line_id, "quantity": "1"}]})
    assert partial.status_code == 201
    assert_error_body(
        role_client(USER).post(f"{order_url}/deliver/", {"lines": [{"line": line_id, "quantity": "5"}]}),
        400,
        "over_delivery",
    )
    assert role_client(USER).post(f"{order_url}/deliver/").status_code == 201
    assert_error_body(role_client(MANAGER).post(f"{order_url}/cancel/"), 409, "invalid_transition")
    invoice = role_client(MANAGER).post(f"{order_url}/invoice/")
    assert invoice.status_code == 201
    invoice_id = invoice.json()["id"]
    assert_error_body(
        role_client(MANAGER).post(f"{BASE}/payments/", {"invoice": invoice_id, "amount": "999.00"}),
        400,
        "overpayment",
    )
    assert_error_body(role_client(USER).post(f"{BASE}/payments/", {"invoice": invoice_id, "amount": "1.00"}), 403)
    paid = role_client(MANAGER).post(f"{BASE}/payments/", {"invoice": invoice_id, "amount": "20.47"})
    assert paid.status_code == 201
    assert role_client(GUEST).get(f"{BASE}/invoices/{invoice_id}/").json()["amount_open"] == "1.00"


def test_sales_order_bad_input_is_400_and_writes_nothing(role_client):
    client = role_client(USER)
    product = ProductFactory()
    customer = CustomerFactory()
    bad = [
        {"customer": customer.pk, "lines": []},
        {"customer": 999999, "lines": [{"product": product.pk, "quantity": "1"}]},
        {"customer": customer.pk, "lines": [{"product": 999999, "quantity": "1"}]},
        {"customer": customer.pk, "lines": [{"product": product.pk, "quantity": "0"}]},
        {"customer": customer.pk, "lines": [{"product": product.pk, "quantity": "-2"}]},
        {"customer": customer.pk, "lines": [{"product": product.pk, "quantity": "1", "unit_price": "0.001"}]},
        {"customer": customer.pk, "lines": [{"product": product.pk, "quantity": "1", "unit_price": "1e20"}]},
    ]
    for payload in bad:
        assert_error_body(client.post(f"{BASE}/sales-orders/", payload), 400)
    assert not SalesOrder.objects.exists()


def test_idempotency_key_replays_the_first_response(role_client):
    product = ProductFactory()
    client = role_client(USER)
    payload = _order_payload(product)
    first = client.post(f"{BASE}/sales-orders/", payload, HTTP_IDEMPOTENCY_KEY="order-123")
    second = client.post(f"{BASE}/sales-orders/", payload, HTTP_IDEMPOTENCY_KEY="order-123")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert SalesOrder.objects.count() == 1
    changed = client.post(f"{BASE}/sales-orders/", _order_payload(product, "3"), HTTP_IDEMPOTENCY_KEY="order-123")
    assert_error_body(changed, 409, "idempotency_key_reused")
    # another user may use the same key independently
    assert (
        role_client(MANAGER).post(f"{BASE}/sales-orders/", payload, HTTP_IDEMPOTENCY_KEY="order-123").status_code == 201
    )
    assert SalesOrder.objects.count() == 2
    # a failed request is not remembered
    bad = client.post(f"{BASE}/sales-orders/", {"customer": 0, "lines": []}, HTTP_IDEMPOTENCY_KEY="bad-1")
    assert bad.status_code == 400 and not IdempotencyKey.objects.filter(key="bad-1").exists()


def test_idempotent_payment(role_client):
    product = ProductFactory(sale_price=D("10.00"))
    receive_stock(product, 5)
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": 1}])
    sales.sales_order_confirm(order=order)
    sales.sales_order_deliver(order=order)
    invoice = sales.sales_order_invoice(order=order)
    client = role_client(MANAGER)
    for _ in range(3):
        response = client.post(
            f"{BASE}/payments/", {"invoice": invoice.pk, "amount": "5.00"}, HTTP_IDEMPOTENCY_KEY="p1"
        )
        assert response.status_code == 201
    assert Payment.objects.count() == 1


def test_purchase_and_production_api(role_client):
    product = ProductFactory(standard_cost=D("4.00"))
    po = role_client(USER).post(
        f"{BASE}/purchase-orders/",
        {"supplier": SupplierFactory().pk, "lines": [{"product": product.pk, "quantity": "10"}]},
    )
    assert po.status_code == 201
    url = f"{BASE}/purchase-orders/{po.json()['id']}"
    assert_error_body(role_client(USER).post(f"{url}/approve/"), 403)
    assert role_client(MANAGER).post(f"{url}/approve/").json()["state"] == "approved"
    assert role_client(USER).post(f"{url}/receive/").status_code == 201
    assert role_client(MANAGER).post(f"{url}/bill/").status_code == 201

    finished = ProductFactory()
    bom = role_client(USER).post(
        f"{BASE}/boms/",
        {
            "code": "B-1",
            "product": finished.pk,
            "lines": [{"component": product.pk, "quantity": "2", "scrap_percent": "0"}],
        },
    )
    assert bom.status_code == 201
    mo = role_client(USER).post(f"{BASE}/production-orders/", {"bom": bom.json()["id"], "quantity": "8"})
    mo_url = f"{BASE}/production-orders/{mo.json()['id']}"
    short = assert_error_body(role_client(USER).post(f"{mo_url}/start/"), 409, "insufficient_components")
    assert short["details"]["short"][0]["missing"] == "6.000"
    mo = role_client(USER).post(f"{BASE}/production-orders/", {"bom": bom.json()["id"], "quantity": "5"})
    mo_url = f"{BASE}/production-orders/{mo.json()['id']}"
    assert role_client(USER).post(f"{mo_url}/start/").json()["state"] == "in_progress"
    done = role_client(USER).post(f"{mo_url}/complete/").json()
    assert done["state"] == "done" and done["unit_cost"] == "8.0000"


def test_stock_adjust_and_transfer_actions(role_client):
    product = ProductFactory()
    payload = {"product": product.pk, "location": main_stock().pk, "quantity": "5", "unit_cost": "2.5"}
    assert_role_access(role_client, "post", f"{BASE}/stock-moves/adjust/", WRITERS, data=payload)
    assert_error_body(role_client(USER).post(f"{BASE}/stock-moves/adjust/", {**payload, "quantity": "-100"}), 409)
    assert_error_body(role_client(USER).post(f"{BASE}/stock-moves/adjust/", {"product": product.pk}), 400)
    assert (
        role_client(GUEST).get(f"{BASE}/stock-levels/?product_id={product.pk}").json()["results"][0]["on_hand"]
        == "15.000"
    )


def test_manual_journal_entry_api(role_client):
    lines = [{"account": 0, "debit": "10.00"}]
    from apps.erp.models import Account

    cash, rent = Account.objects.get(code="1010").pk, Account.objects.get(code="6200").pk
    good = {"date": "2025-01-31", "lines": [{"account": rent, "debit": "10.00"}, {"account": cash, "credit": "10.00"}]}
    bad = {"date": "2025-01-31", "lines": [{"account": rent, "debit": "10.00"}, {"account": cash, "credit": "9.00"}]}
    assert_role_access(role_client, "post", f"{BASE}/journal-entries/", APPROVERS, data=good)
    assert_error_body(role_client(MANAGER).post(f"{BASE}/journal-entries/", bad), 400, "unbalanced_entry")
    assert lines
    entry = role_client(MANAGER).get(f"{BASE}/journal-entries/").json()["results"][0]
    assert role_client(MANAGER).post(f"{BASE}/journal-entries/{entry['id']}/reverse/").status_code == 201
    assert role_client(MANAGER).put(f"{BASE}/journal-entries/{entry['id']}/", good).status_code == 405


def test_reports_csv_export(role_client):
    product = ProductFactory()
    receive_stock(product, 3, "2.00")
    response = role_client(MANAGER).get(f"{BASE}/reports/trial-balance/?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert text.splitlines()[0] == "code,account,type,debit,credit,balance"
    assert "1200,Inventory" in text
    total = next(line.split(",") for line in text.splitlines() if line.startswith("total,"))
    assert len(total) == 6 and total[3] == total[4] != ""  # debits = credits, each under its column
    assert all(len(line.split(",")) == 6 for line in text.splitlines() if line.startswith("total "))
    for report in [
        "dashboard",
        "profit-and-loss",
        "balance-sheet",
        "ar-aging",
        "ap-aging",
        "sales",
        "inventory-valuation",
    ]:
        csv = role_client(MANAGER).get(f"{BASE}/reports/{report}/?format=csv")
        assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv"), report
    for group in ("customer", "product", "month"):
        assert role_client(GUEST).get(f"{BASE}/reports/sales/?group={group}").status_code == 200
    assert_error_body(role_client(MANAGER).get(f"{BASE}/reports/sales/?group=nonsense"), 400)
    assert_error_body(
        role_client(MANAGER).get(f"{BASE}/reports/trial-balance/?date_from=2025-02-01&date_to=2025-01-01"), 400
    )


def test_list_query_counts_are_bounded(role_client, django_assert_max_num_queries):
    product = ProductFactory()
    receive_stock(product, 50)
    for _ in range(5):
        order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": 1}] * 3)
        sales.sales_order_confirm(order=order)
    client = role_client(GUEST)
    client.get(f"{BASE}/products/")  # warm up the auth queries
    for path in ["sales-orders", "stock-levels", "stock-moves", "journal-entries", "products", "customers"]:
        with django_assert_max_num_queries(12):
            assert client.get(f"{BASE}/{path}/").status_code == 200


def test_nightly_purge_forgets_old_idempotency_keys(role_client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.tasks import purge_idempotency_keys

    product = ProductFactory()
    client = role_client(USER)
    payload = _order_payload(product)
    assert client.post(f"{BASE}/sales-orders/", payload, HTTP_IDEMPOTENCY_KEY="old-1").status_code == 201
    assert client.post(f"{BASE}/sales-orders/", payload, HTTP_IDEMPOTENCY_KEY="new-1").status_code == 201
    settings.ERP_IDEMPOTENCY_KEY_HOURS = 24
    IdempotencyKey.objects.filter(key="old-1").update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_idempotency_keys.delay().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new-1"]
    # after the purge the old key is a new request again; the recent one still replays
    orders = SalesOrder.objects.count()
    again = client.post(f"{BASE}/sales-orders/", payload, HTTP_IDEMPOTENCY_KEY="old-1")
    assert again.status_code == 201 and not again.has_header("Idempotent-Replayed")
    assert SalesOrder.objects.count() == orders + 1
    replay = client.post(f"{BASE}/sales-orders/", payload, HTTP_IDEMPOTENCY_KEY="new-1")
    assert replay["Idempotent-Replayed"] == "true"
