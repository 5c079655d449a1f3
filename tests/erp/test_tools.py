"""erp_lookup, the ERP's tool: registered by the ERP app, company-wide data for every holder of erp.read, arguments
checked against its schema before any query."""

import re
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.exceptions import Forbidden, ValidationFailed
from apps.core.models import AuditLog
from apps.core.roles import ROLES
from apps.core.tools import ToolFailed, get_tool, tool_run, tools_available_to
from tests.erp.factories import CustomerFactory

pytestmark = pytest.mark.django_db
ERP_TABLE = re.compile(r'FROM "erp_')


@pytest.fixture
def customer():
    return CustomerFactory(code="ACME", name="Acme Ltd", credit_limit=D("500.00"))


def run(user, arguments, api_key=None):
    return tool_run(name="erp_lookup", arguments=arguments, user=user, api_key=api_key)


def test_it_is_the_erp_apps_tool_needing_erp_read():
    tool = get_tool("erp_lookup")
    assert tool.handler.__module__ == "apps.erp.tools" and tool.permission == "erp.read"
    assert tool.parameters["properties"]["kind"]["enum"] == ["order", "customer", "product", "stock"]


@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_looks_up_company_records(customer, make_user, role):
    user = make_user(role=role)
    assert "erp_lookup" in {t.name for t in tools_available_to(user=user)}
    found = run(user, {"kind": "customer", "code": "acme"})
    assert (found["code"], found["name"], found["credit_limit"]) == ("ACME", "Acme Ltd", "500.00")


def test_without_erp_read_or_its_scope_nothing_is_read(customer, make_user, make_api_key):
    with pytest.raises(Forbidden):
        run(make_user(), {"kind": "customer", "code": "ACME"})
    manager = make_user(role="manager")
    rag_only, _ = make_api_key(manager, scopes=["chat.use", "rag.read"])
    assert "erp_lookup" not in {t.name for t in tools_available_to(user=manager, api_key=rag_only)}
    with pytest.raises(Forbidden):
        run(manager, {"kind": "customer", "code": "ACME"}, api_key=rag_only)
    erp_only, _ = make_api_key(manager, scopes=["erp.read"])
    assert {t.name for t in tools_available_to(user=manager, api_key=erp_only)} == {"erp_lookup"}
    assert run(manager, {"kind": "customer", "code": "ACME"}, api_key=erp_only)["name"] == "Acme Ltd"
    outcomes = list(
        AuditLog.objects.filter(target_type="tool", target_id="erp_lookup")
        .order_by("id")
        .values_list("outcome", flat=True)
    )
    assert outcomes == ["denied", "denied", "success"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"kind": "invoice", "code": "X"},
        {"kind": "customer"},
        {"kind": "customer", "code": ""},
        {"kind": "customer", "code": 42},
        {"kind": "customer", "code": "ACME", "fields": ["all"]},
        "customer ACME",
    ],
)
def test_bad_arguments_are_refused_by_the_schema(customer, make_user, arguments):
    with CaptureQueriesContext(connection) as queries, pytest.raises(ValidationFailed) as caught:
        run(make_user(role="user"), arguments)
    assert caught.value.code == "invalid_arguments"
    assert not [q["sql"] for q in queries.captured_queries if ERP_TABLE.search(q["sql"])]  # no ERP table was read


def test_a_valid_lookup_reads_the_erp_tables(customer, make_user):
    """The control of the test above: a look-up that passes the schema does query them."""
    with CaptureQueriesContext(connection) as queries:
        run(make_user(role="user"), {"kind": "customer", "code": "ACME"})
    assert [q["sql"] for q in queries.captured_queries if ERP_TABLE.search(q["sql"])]


def test_an_unknown_code_is_the_lookups_not_found(customer, make_user):
    with pytest.raises(ToolFailed) as caught:
        run(make_user(role="guest"), {"kind": "customer", "code": "NOPE"})
    assert (caught.value.status_code, caught.value.code) == (400, "not_found")
    assert "No customer" in caught.value.message
