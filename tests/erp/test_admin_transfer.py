"""Admin import (through the CSV import service) and export (django-import-export) of master data."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.models import AuditLog
from apps.core.roles import GUEST
from apps.erp.models import Customer
from tests.erp.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def upload(client, content: str, skip: bool = False):
    data = {"file": SimpleUploadedFile("customers.csv", content.encode(), content_type="text/csv")}
    if skip:
        data["skip_errors"] = "on"
    return client.post("/admin/erp/customer/import-csv/", data)


def test_admin_import_is_all_or_nothing_with_row_numbers(admin_client):
    page = admin_client.get("/admin/erp/customer/")
    assert b"import-csv/" in page.content
    bad = "code,name,credit_limit\nC-1,Acme,100\nC-2,,50\nC-3,Beta,-5\n"
    response = upload(admin_client, bad)
    assert response.status_code == 200
    rows = [e["row"] for e in response.context["errors"]]
    assert rows == [3, 4]
    assert not Customer.objects.filter(code__in=["C-1", "C-2", "C-3"]).exists()

    response = upload(admin_client, bad, skip=True)
    assert response.context["result"]["imported"] == 1
    customer = Customer.objects.get(code="C-1")
    assert AuditLog.objects.filter(target_type="erp.customer", target_id=str(customer.pk), action="create").exists()


def test_admin_import_needs_write_permission(client, make_user):
    guest = make_user(role=GUEST, is_staff=True)
    client.force_login(guest)
    assert client.get("/admin/erp/customer/import-csv/").status_code == 403


def export(client, pk: int, file_format: str):
    # the list action opens the export form for the selection; the form posts to the export view
    chosen = client.post("/admin/erp/customer/", {"action": "export_admin_action", "_selected_action": [pk]})
    assert chosen.status_code == 200 and b"export_items" in chosen.content
    return client.post("/admin/erp/customer/export/", {"resource": "0", "format": file_format, "export_items": [pk]})


def test_admin_export_csv_and_xlsx_leave_secrets_out(admin_client):
    customer = CustomerFactory(code="C-77", name="Export Ltd", tax_id="TAX-SECRET-1")
    CustomerFactory(code="C-78")  # not selected, not exported
    csv_response = export(admin_client, customer.pk, "0")
    assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
    lines = csv_response.content.decode().lstrip("\ufeff").splitlines()
    assert lines[0].split(",")[:2] == ["code", "name"] and "tax_id" not in lines[0]
    assert len(lines) == 2 and lines[1].startswith("C-77,Export Ltd")
    assert "TAX-SECRET-1" not in csv_response.content.decode()

    xlsx = export(admin_client, customer.pk, "1")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"  # an XLSX file is a zip archive
