"""Who may change company-wide data (rows everyone of a system reads: ERP records, instruments, chat models).

Generated from the URL conf: every viewset that is not an owned-object endpoint (tests/test_api_object_access.py's
OWNED) and accepts writes is declared below with the permission its writes need; a plain user (role "user") is
refused every write the role matrix does not give them (403, nothing written), and is let through (to validation or a
404) where it does. Shared market data (instruments, bars) is managed with resources.manage, like the other suite
resources, never with stock.trade.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory

from apps.core.roles import ROLES
from apps.stock.models import Instrument
from tests.core.factories import UserFactory
from tests.stock.factories import InstrumentFactory
from tests.test_api_object_access import COMPANY_WIDE, OWNED, Endpoint, api_endpoints

pytestmark = pytest.mark.django_db

# viewset -> the permission its create/update/delete need (the intent; custom actions may need more, see below)
WRITE_PERMISSION: dict[str, str] = {
    "InstrumentViewSet": "resources.manage",  # company-wide market data: managers and admins
    "ChatModelViewSet": "resources.manage",
    "ProviderViewSet": "resources.manage",
    "MonitorIssueViewSet": "resources.manage",  # resources: monitor issues resolved by hand
    "UserViewSet": "core.audit",
    # plans, limits, assignments and overrides: who may use how much of the suite
    **dict.fromkeys(
        ["PlanViewSet", "PlanLimitViewSet", "PlanAssignmentViewSet", "QuotaOverrideViewSet"], "resources.manage"
    ),
    "PoolViewSet": "resources.manage",  # shared compute pools and their reservations: operators
    "ReservationViewSet": "resources.manage",
    "AccountViewSet": "erp.approve",  # the chart of accounts is finance's
    "JournalEntryViewSet": "erp.approve",
    "PaymentViewSet": "erp.approve",
    **dict.fromkeys(
        [
            "BomViewSet",
            "CustomerViewSet",
            "LocationViewSet",
            "ProductCategoryViewSet",
            "ProductViewSet",
            "ProductionOrderViewSet",
            "PurchaseOrderViewSet",
            "SalesOrderViewSet",
            "StockMoveViewSet",
            "SupplierViewSet",
            "TaxRateViewSet",
            "WarehouseViewSet",
        ],
        "erp.write",
    ),
}
CRUD = {"create", "update", "partial_update", "destroy"}
MISSING_PK = 987654321


def company_wide_writes() -> list[Endpoint]:
    return [
        e for e in api_endpoints() if e.writes and hasattr(e.view, "get_extra_actions") and e.view.__name__ not in OWNED
    ]


def required(endpoint: Endpoint) -> str:
    mapping = endpoint.view.required_permissions  # type: ignore[attr-defined]
    perm = mapping.get(endpoint.action, mapping.get("write"))
    assert isinstance(perm, str), f"{endpoint}: expected one permission, got {perm!r}"
    return perm


def test_every_company_wide_writer_is_declared():
    found = {e.view.__name__ for e in company_wide_writes()}
    assert found == set(WRITE_PERMISSION), {
        "not declared": sorted(found - set(WRITE_PERMISSION)),
        "declared but gone": sorted(set(WRITE_PERMISSION) - found),
    }
    # the COMPANY_WIDE viewsets of the object-access test that write are all here
    writers = {name for name in COMPANY_WIDE if name.endswith("ViewSet")} & found
    assert writers <= set(WRITE_PERMISSION)


@pytest.mark.parametrize("endpoint", company_wide_writes(), ids=str)
def test_declared_permission_is_the_one_enforced(endpoint: Endpoint):
    perm, intended = required(endpoint), WRITE_PERMISSION[endpoint.view.__name__]
    if endpoint.action in CRUD:
        assert perm == intended, f"{endpoint} needs {perm}, declared {intended}"
    else:  # a custom action needs the system's own permission, or the declared one
        assert perm == intended or perm.split(".")[0] == intended.split(".")[0], f"{endpoint} needs {perm}"


def _send(client: Any, endpoint: Endpoint) -> Any:
    path = endpoint.path(MISSING_PK) if endpoint.detail else endpoint.path(0)
    return getattr(client, endpoint.method)(path, {}, format="json")


@pytest.mark.parametrize("endpoint", company_wide_writes(), ids=str)
def test_plain_user_writes_as_the_role_matrix_says(client_for, endpoint: Endpoint):
    perm = required(endpoint)
    response = _send(client_for(UserFactory(role="user")), endpoint)
    if perm in ROLES["user"]:
        assert response.status_code != 403, (str(endpoint), response.content[:300])
    else:
        assert response.status_code == 403, (str(endpoint), response.status_code, response.content[:300])
        assert response.json()["error"]["code"] == "permission_denied"
    holder = "admin" if perm not in ROLES["manager"] else "manager"
    assert _send(client_for(UserFactory(role=holder)), endpoint).status_code != 403, str(endpoint)


# --- Instruments, the probe's case ----------------------------------------------------------------------------------


def test_a_plain_user_cannot_change_or_delete_an_instrument(client_for):
    instrument = InstrumentFactory(is_active=True)
    client = client_for(UserFactory(role="user"))
    url = f"/api/v1/stock/instruments/{instrument.pk}/"
    assert client.get(url).status_code == 200  # read: company-wide, for stock.read
    for response in (
        client.patch(url, {"is_active": False}, format="json"),
        client.put(url, {"symbol": "HIJACK", "exchange": "XNYS", "name": "x"}, format="json"),
        client.delete(url),
        client.post("/api/v1/stock/instruments/", {"symbol": "NEW", "exchange": "XNYS", "name": "x"}, format="json"),
    ):
        assert response.status_code == 403, response.content
    instrument.refresh_from_db()
    assert instrument.is_active and instrument.symbol != "HIJACK"
    assert not Instrument.objects.filter(symbol="NEW").exists()


def test_a_manager_changes_and_deletes_instruments(client_for):
    instrument = InstrumentFactory(is_active=True)
    client = client_for(UserFactory(role="manager"))
    url = f"/api/v1/stock/instruments/{instrument.pk}/"
    assert client.patch(url, {"is_active": False}, format="json").status_code == 200
    instrument.refresh_from_db()
    assert not instrument.is_active
    assert client.delete(url).status_code == 204


@pytest.mark.parametrize(("role", "may"), [("user", False), ("guest", False), ("manager", True), ("admin", True)])
def test_instrument_admin_writes_need_resources_manage(role: str, may: bool):
    model_admin = admin.site._registry[Instrument]
    request = RequestFactory().get("/admin/stock/instrument/")
    request.user = UserFactory(role=role, is_staff=True)
    instrument = InstrumentFactory()
    assert model_admin.has_view_permission(request, instrument) is ("stock.read" in ROLES[role])
    assert model_admin.has_add_permission(request) is may
    assert model_admin.has_change_permission(request, instrument) is may
    assert model_admin.has_delete_permission(request, instrument) is may
    assert model_admin.has_import_bars_permission(request) is may
    assert ("deactivate" in model_admin.get_actions(request)) is may
