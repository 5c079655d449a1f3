"""Bad input the issue lists that the other files do not cover: absurd magnitudes that only overflow once multiplied,
spreadsheet (XLSX) imports with row-numbered errors, blank rows, and idempotent production orders."""

import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from apps.core.roles import GUEST, MANAGER, USER
from apps.core.testing import assert_error_body
from apps.erp.models import Customer, JournalEntry, Product, ProductionOrder, PurchaseOrder, SalesOrder, StockMove
from apps.erp.services.imports import master_data_import
from tests.erp.factories import (
    BillOfMaterialsFactory,
    BomLineFactory,
    CustomerFactory,
    ProductFactory,
    SupplierFactory,
    main_stock,
)

pytestmark = pytest.mark.django_db
D = Decimal
BASE = "/api/v1/erp"


def test_line_amounts_that_overflow_are_400_and_write_nothing(role_client):
    client = role_client(MANAGER)
    product = ProductFactory()
    customer = CustomerFactory()
    # each number is accepted on its own; their product is beyond any money amount
    huge_line = {"product": product.pk, "quantity": "999999", "unit_price": "99999999.99"}
    error = assert_error_body(
        client.post(f"{BASE}/sales-orders/", {"customer": customer.pk, "lines": [huge_line]}), 400
    )
    assert "too large" in error["details"]["lines[0]"][0]
    # lines each within bounds whose sum is not
    big = {"product": product.pk, "quantity": "1", "unit_price": "500000000.00"}  # 565,000,000.00 with VAT
    assert_error_body(
        client.post(f"{BASE}/sales-orders/", {"customer": customer.pk, "lines": [big, big]}), 400, "amount_too_large"
    )
    po = client.post(f"{BASE}/purchase-orders/", {"supplier": SupplierFactory().pk, "lines": [huge_line]})
    assert_error_body(po, 400)
    assert not SalesOrder.objects.exists() and not PurchaseOrder.objects.exists()


def test_stock_adjustment_worth_too_much_is_400(role_client):
    product = ProductFactory()
    response = role_client(USER).post(
        f"{BASE}/stock-moves/adjust/",
        {"product": product.pk, "location": main_stock().pk, "quantity": "99999999", "unit_cost": "99999999"},
    )
    assert_error_body(response, 400, "amount_too_large")
    assert not StockMove.objects.exists() and not JournalEntry.objects.exists()


def _xlsx(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_admin_imports_an_xlsx_workbook_all_or_nothing(admin_client):
    bad = _xlsx([["code", "name", "credit_limit"], ["X-1", "Acme", 100], ["X-2", None, 50], ["X-3", "Beta", -5]])
    upload = SimpleUploadedFile("customers.xlsx", bad, content_type="application/octet-stream")
    response = admin_client.post("/admin/erp/customer/import-csv/", {"file": upload})
    assert [e["row"] for e in response.context["errors"]] == [3, 4]
    assert not Customer.objects.filter(code__startswith="X-").exists()

    good = _xlsx([["code", "name", "credit_limit", "active"], ["X-1", "Acme", 100.5, True], ["X-2", "Beta", 0, False]])
    upload = SimpleUploadedFile("customers.xlsx", good, content_type="application/octet-stream")
    response = admin_client.post("/admin/erp/customer/import-csv/", {"file": upload})
    assert response.context["result"]["imported"] == 2
    assert Customer.objects.get(code="X-1").credit_limit == D("100.50")
    assert Customer.objects.get(code="X-2").active is False

    junk = SimpleUploadedFile("customers.xlsx", b"PK not really a workbook")
    response = admin_client.post("/admin/erp/customer/import-csv/", {"file": junk})
    assert response.status_code == 200 and b"not a readable XLSX" in response.content


def test_command_imports_xlsx_and_names_sheet_rows(tmp_path):
    path = tmp_path / "products.xlsx"
    path.write_bytes(
        _xlsx(
            [
                ["sku", "name", "sale_price", "tax_code"],
                ["XP-1", "Pump", 19.99, "VAT13"],
                [None, None, None, None],  # a blank row keeps its number
                ["XP-2", "Bell", 1.001, "VAT13"],
            ]
        )
    )
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("erp_import", "products", str(path), stderr=err)
    assert "row 4:" in err.getvalue() and "decimal places" in err.getvalue()
    assert not Product.objects.filter(sku__startswith="XP-").exists()
    call_command("erp_import", "products", str(path), "--skip-errors", stdout=io.StringIO(), stderr=io.StringIO())
    assert Product.objects.get(sku="XP-1").sale_price == D("19.99")


def test_csv_rows_keep_their_numbers_across_blank_lines_and_extra_values():
    content = "code,name\nB-1,One\n\nB-2,Two,surplus\n,\nB-3,\n"
    result = master_data_import(kind="customers", content=content, skip_errors=True)
    assert result["imported"] == 1
    assert [(e["row"], e["errors"][0].split(":")[0]) for e in result["errors"]] == [
        (4, "the row has 3 values for 2 columns"),
        (6, "name"),
    ]


def test_production_orders_accept_an_idempotency_key(role_client):
    bom = BillOfMaterialsFactory()
    BomLineFactory(bom=bom)
    client = role_client(USER)
    payload = {"bom": bom.pk, "quantity": "3"}
    first = client.post(f"{BASE}/production-orders/", payload, HTTP_IDEMPOTENCY_KEY="mo-1")
    again = client.post(f"{BASE}/production-orders/", payload, HTTP_IDEMPOTENCY_KEY="mo-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ProductionOrder.objects.count() == 1


def test_stock_levels_filter_by_warehouse(role_client):
    from apps.erp.services.inventory import warehouse_create
    from tests.erp.helpers import receive_stock

    product = ProductFactory()
    second = warehouse_create(code="W2", name="Second")
    receive_stock(product, 5)
    receive_stock(product, 2, location=second.locations.get(is_default=True))
    rows = role_client(GUEST).get(f"{BASE}/stock-levels/", {"warehouse_id": second.pk}).json()["results"]
    assert [(row["warehouse"], row["location_code"], row["on_hand"]) for row in rows] == [
        (second.pk, "W2/STOCK", "2.000")
    ]
