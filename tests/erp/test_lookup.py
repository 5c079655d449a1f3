"""ERP look-ups by code, as the chat centre's erp_lookup tool uses them (with the calling user's permissions)."""

from decimal import Decimal as D

import pytest

from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.roles import MANAGER, USER
from apps.core.testing import assert_error_body
from apps.erp.selectors.lookup import erp_lookup
from apps.erp.services import sales
from tests.erp.factories import CustomerFactory, ProductFactory
from tests.erp.helpers import receive_stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    product = ProductFactory(sku="SKU-LOOK", sale_price=D("10.00"))
    receive_stock(product, 8)
    customer = CustomerFactory(code="CUST-LOOK", credit_limit=D("1000.00"))
    order = sales.sales_order_create(customer=customer, lines=[{"product": product, "quantity": 3}])
    sales.sales_order_confirm(order=order)
    return order


def test_lookups_by_code(order):
    product = erp_lookup(kind="product", code="sku-look")
    assert (product["on_hand"], product["reserved"], product["available"]) == ("8.000", "3.000", "5.000")
    stock = erp_lookup(kind="stock", code="SKU-LOOK")
    assert [row["reserved"] for row in stock["locations"]] == ["3.000"]
    found = erp_lookup(kind="order", code=order.number)
    assert found["state"] == "confirmed" and found["customer"]["code"] == "CUST-LOOK" and found["lines"] == 1
    assert found["total"] == str(order.total)
    assert erp_lookup(kind="customer", code="CUST-LOOK")["credit_limit"] == "1000.00"


def test_bad_lookups():
    with pytest.raises(NotFound):
        erp_lookup(kind="customer", code="NOPE")
    with pytest.raises(ValidationFailed):
        erp_lookup(kind="invoice", code="X")
    with pytest.raises(ValidationFailed):
        erp_lookup(kind="product", code="  ")


def test_chat_tool_runs_with_the_callers_permissions(order, role_client, make_user, make_api_key, api_client):
    run = "/api/v1/chat/tools/erp_lookup/run/"
    ok = role_client(USER).post(run, {"arguments": {"kind": "product", "code": "SKU-LOOK"}}, format="json")
    assert ok.status_code == 200 and ok.json()["result"]["available"] == "5.000"
    missing = role_client(USER).post(run, {"arguments": {"kind": "customer", "code": "NOPE"}}, format="json")
    assert_error_body(missing, 400, "not_found")  # the tool's error, as the model would see it
    # a key limited to chat cannot reach ERP data through the tool
    _, raw = make_api_key(make_user(role=MANAGER), scopes=["chat.use"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    denied = api_client.post(run, {"arguments": {"kind": "product", "code": "SKU-LOOK"}}, format="json")
    assert denied.status_code == 403
