"""The ERP admin: transition actions run the same services as the API, locked orders stay locked, manual journal
entries are posted balanced, warehouses get their stock location, and the dashboard renders for every period."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from apps.core.models import AuditLog
from apps.core.roles import GUEST, MANAGER, USER
from apps.erp.choices import DashboardPeriod
from apps.erp.models import Invoice, JournalEntry, Location, SalesOrder, StockMove, Warehouse
from apps.erp.services import production, purchasing, sales
from apps.erp.services.housekeeping import kpi_snapshot_take
from tests.erp.factories import (
    BillOfMaterialsFactory,
    BomLineFactory,
    CustomerFactory,
    ProductFactory,
    SupplierFactory,
    account,
)
from tests.erp.helpers import assert_every_entry_balances, level, receive_stock

pytestmark = pytest.mark.django_db
D = Decimal


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


@pytest.fixture
def order():
    product = ProductFactory(sale_price=D("10.00"))
    receive_stock(product, 10, "4.00")
    return sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": D("3")}])


def test_sales_order_actions_go_through_the_services(staff_client, order):
    manager = staff_client(MANAGER)
    product = order.lines.get().product
    run_action(manager, "salesorder", "confirm", order.pk)
    order.refresh_from_db()
    assert order.state == "confirmed" and level(product).reserved == D("3")
    run_action(manager, "salesorder", "deliver", order.pk)
    order.refresh_from_db()
    assert order.state == "delivered" and level(product).on_hand == D("7")
    assert StockMove.objects.filter(product=product, kind="delivery", quantity=D("3")).exists()
    run_action(manager, "salesorder", "invoice", order.pk)
    order.refresh_from_db()
    invoice = Invoice.objects.get(sales_order=order)
    assert order.state == "invoiced" and invoice.journal_entry_id is not None

    # an illegal transition is reported, not applied
    response = run_action(manager, "salesorder", "cancel", order.pk)
    assert any("Cannot cancel" in text for text in texts(response))
    order.refresh_from_db()
    assert order.state == "invoiced"

    run_action(manager, "invoice", "register_full_payment", invoice.pk)
    invoice.refresh_from_db()
    order.refresh_from_db()
    assert invoice.state == "paid" and order.state == "paid"
    assert_every_entry_balances()
    actions = set(
        AuditLog.objects.filter(target_type="erp.salesorder", target_id=str(order.pk)).values_list("message", flat=True)
    )
    assert {"Sales order confirmed", "Sales order created with 1 lines, total 33.90"} <= actions


def test_transition_actions_need_their_permission(staff_client, order):
    user = staff_client(USER)  # erp.write, not erp.approve
    response = run_action(user, "salesorder", "confirm", order.pk)
    assert any("erp.approve" in text for text in texts(response))
    order.refresh_from_db()
    assert order.state == "draft"


def test_only_a_draft_header_can_be_changed_and_through_the_service(staff_client, order):
    manager = staff_client(MANAGER)
    other = Warehouse.objects.create(code="W2", name="Second")
    page = manager.get(f"/admin/erp/salesorder/{order.pk}/change/")
    assert page.status_code == 200 and b'name="customer_reference"' in page.content
    form = {
        "customer": order.customer_id,
        "warehouse": order.warehouse_id,
        "order_date": order.order_date.isoformat(),
        "customer_reference": "PO-778",
        "notes": "",
        **_inline_management(),
        **_inline_management("invoices"),
    }
    response = manager.post(f"/admin/erp/salesorder/{order.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    order.refresh_from_db()
    assert order.customer_reference == "PO-778"
    assert AuditLog.objects.filter(target_type="erp.salesorder", message="Sales order changed").exists()

    sales.sales_order_confirm(order=order)
    page = manager.get(f"/admin/erp/salesorder/{order.pk}/change/")
    assert b'name="warehouse"' not in page.content  # every field is read-only now
    manager.post(f"/admin/erp/salesorder/{order.pk}/change/", {**form, "warehouse": other.pk, "notes": "x"})
    order.refresh_from_db()
    assert order.warehouse_id != other.pk and order.notes == ""


def _inline_management(prefix: str = "lines") -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_purchase_and_production_actions(staff_client):
    manager = staff_client(MANAGER)
    product = ProductFactory(standard_cost=D("5.00"))
    po = purchasing.purchase_order_create(supplier=SupplierFactory(), lines=[{"product": product, "quantity": 4}])
    for action in ("approve", "receive", "bill"):
        run_action(manager, "purchaseorder", action, po.pk)
    po.refresh_from_db()
    assert po.state == "billed" and level(product).on_hand == D("4")

    bom = BillOfMaterialsFactory()
    BomLineFactory(bom=bom, component=product, quantity=D("2"))
    mo = production.production_order_create(bom=bom, quantity=D("2"))
    run_action(manager, "productionorder", "start", mo.pk)
    run_action(manager, "productionorder", "complete", mo.pk)
    mo.refresh_from_db()
    assert mo.state == "done" and level(product).on_hand == D("0") and level(bom.product).on_hand == D("2")
    page = manager.get(f"/admin/erp/productionorder/{mo.pk}/change/")
    assert page.status_code == 200 and b'name="quantity"' not in page.content
    assert_every_entry_balances()


def test_production_order_update_is_for_planned_orders_only():
    bom = BillOfMaterialsFactory()
    BomLineFactory(bom=bom)
    mo = production.production_order_create(bom=bom, quantity=D("2"))
    mo = production.production_order_update(order=mo, quantity="5", planned_date=dt.date(2030, 1, 2))
    assert mo.quantity == D("5") and mo.planned_date == dt.date(2030, 1, 2)
    assert AuditLog.objects.filter(target_type="erp.productionorder", message="Production order changed").exists()
    production.production_order_cancel(order=mo)
    from apps.core.exceptions import Conflict, ValidationFailed

    with pytest.raises(Conflict):
        production.production_order_update(order=mo, quantity="1")
    with pytest.raises(ValidationFailed):
        production.production_order_update(order=production.production_order_create(bom=bom, quantity=1), quantity=0)


def test_warehouse_added_in_the_admin_gets_its_stock_location(staff_client):
    manager = staff_client(MANAGER)
    response = manager.post(
        "/admin/erp/warehouse/add/",
        {"code": "SZ", "name": "Shenzhen", "address": "", "active": "on", **_inline_management("locations")},
    )
    assert response.status_code == 302, response.content[:2000]
    warehouse = Warehouse.objects.get(code="SZ")
    location = Location.objects.get(warehouse=warehouse, is_default=True)
    assert location.code == "SZ/STOCK"
    assert AuditLog.objects.filter(target_type="erp.warehouse", target_id=str(warehouse.pk)).exists()


def _entry_form(lines: list[tuple[str, str, str]]) -> dict[str, str]:
    data = {
        "date": "2025-03-01",
        "memo": "Accrued rent",
        "reference": "M-1",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for i, (code, debit, credit) in enumerate(lines):
        data |= {
            f"lines-{i}-account": str(account(code).pk),
            f"lines-{i}-debit": debit,
            f"lines-{i}-credit": credit,
            f"lines-{i}-description": "",
        }
    return data


def test_manual_journal_entry_is_posted_from_the_admin(staff_client):
    manager = staff_client(MANAGER)
    assert manager.get("/admin/erp/journalentry/add/").status_code == 200
    unbalanced = manager.post(
        "/admin/erp/journalentry/add/", _entry_form([("6200", "30.00", "0"), ("1010", "0", "20")])
    )
    assert unbalanced.status_code == 200 and b"does not balance" in unbalanced.content
    one_line = manager.post("/admin/erp/journalentry/add/", _entry_form([("6200", "30.00", "0")]))
    assert one_line.status_code == 200 and b"at least two lines" in one_line.content
    assert not JournalEntry.objects.exists()

    response = manager.post("/admin/erp/journalentry/add/", _entry_form([("6200", "30.00", "0"), ("1010", "0", "30")]))
    assert response.status_code == 302, response.content[:2000]
    entry = JournalEntry.objects.get()
    assert entry.memo == "Accrued rent" and entry.source == "manual" and entry.number.startswith("JE-")
    assert [(line.account.code, line.debit, line.credit) for line in entry.lines.all()] == [
        ("6200", D("30.00"), D("0.00")),
        ("1010", D("0.00"), D("30.00")),
    ]
    assert AuditLog.objects.filter(target_type="erp.journalentry", target_id=str(entry.pk)).exists()
    change = manager.get(f"/admin/erp/journalentry/{entry.pk}/change/")
    assert change.status_code == 200 and b'name="lines-0-debit"' not in change.content  # posted: read-only


def test_manual_journal_entry_needs_erp_approve(staff_client):
    user = staff_client(USER)
    assert user.get("/admin/erp/journalentry/add/").status_code == 403
    user.post("/admin/erp/journalentry/add/", _entry_form([("6200", "30.00", "0"), ("1010", "0", "30")]))
    assert not JournalEntry.objects.exists()


@pytest.mark.parametrize("period", DashboardPeriod.values)
def test_dashboard_renders_every_period_with_snapshots(staff_client, order, period):
    sales.sales_order_confirm(order=order)
    kpi_snapshot_take()
    manager = staff_client(MANAGER)
    response = manager.get(f"/admin/erp/erpdashboard/?period={period}")
    assert response.status_code == 200
    kpis = response.context["kpis"]
    assert kpis["period"] == period and kpis["orders_by_state"] == {"confirmed": 1}
    assert len(kpis["snapshots"]) == 1 and kpis["snapshots"][0]["stock_outs"] == 0
    assert b"Open receivables (daily snapshots)" in response.content and b"Top customers" in response.content


def test_dashboard_needs_erp_approve(staff_client):
    assert staff_client(USER).get("/admin/erp/erpdashboard/").status_code == 403


def test_order_admin_cannot_add_or_delete(staff_client, order):
    manager = staff_client(MANAGER)
    assert manager.get("/admin/erp/salesorder/add/").status_code == 403
    assert manager.post(f"/admin/erp/salesorder/{order.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SalesOrder.objects.filter(pk=order.pk).exists()


def test_document_lines_are_shown_to_every_reader_not_only_superusers(staff_client, order):
    """Inline rows follow the suite's role permissions (erp.read), like the document they belong to."""
    sales.sales_order_confirm(order=order)
    sales.sales_order_deliver(order=order)
    invoice = sales.sales_order_invoice(order=order)
    entry = JournalEntry.objects.filter(lines__isnull=False).order_by("id").first()
    guest = staff_client(GUEST)
    pages = {
        f"/admin/erp/salesorder/{order.pk}/change/": "lines-TOTAL_FORMS",
        f"/admin/erp/invoice/{invoice.pk}/change/": "lines-TOTAL_FORMS",
        f"/admin/erp/journalentry/{entry.pk}/change/": "lines-TOTAL_FORMS",
    }
    for url, marker in pages.items():
        response = guest.get(url)
        assert response.status_code == 200, url
        assert marker in response.content.decode(), f"{url} hides its lines from an erp.read user"
