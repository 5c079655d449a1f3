"""The Open WebUI tools file, imported by path as Open WebUI does, against a live AI Stack."""

import importlib.util
import json
from pathlib import Path

import pytest

from apps.rag.services import document_create_text
from tests.rag.factories import KnowledgeBaseFactory

TOOLS_FILE = Path(__file__).resolve().parents[2] / "integrations" / "openwebui" / "aistack_tools.py"


def load_tools():
    spec = importlib.util.spec_from_file_location("aistack_openwebui_tools", TOOLS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Tools()


@pytest.mark.django_db(transaction=True)
def test_tools_file_searches_knowledge_with_the_keys_permissions(
    live_server, make_user, make_api_key, django_capture_on_commit_callbacks
):
    owner = make_user(role="user")
    kb = KnowledgeBaseFactory(owner=owner, name="Handbook", visibility="everyone")
    with django_capture_on_commit_callbacks(execute=True):
        document_create_text(kb=kb, title="Holidays", text="Every employee has 25 days of paid holiday a year.")
    tools = load_tools()
    tools.valves = tools.Valves(aistack_url=live_server.url, aistack_api_key=make_api_key(owner)[1])
    passages = json.loads(tools.search_knowledge("paid holiday days"))
    assert passages[0]["title"] == "Holidays" and "25 days" in passages[0]["text"]

    scoped = tools.Valves(aistack_url=live_server.url, aistack_api_key=make_api_key(owner, scopes=["chat.use"])[1])
    tools.valves = scoped
    assert "needs rag.read" in json.loads(tools.search_knowledge("holiday"))["error"]

    tools.valves = tools.Valves(aistack_url=live_server.url, aistack_api_key="ask_not_a_key")
    assert "error" in json.loads(tools.stock_quote("AAPL"))


def test_tools_file_reports_an_unreachable_server():
    tools = load_tools()
    tools.valves = tools.Valves(aistack_url="http://127.0.0.1:9", aistack_api_key="ask_x", timeout_seconds=2)
    assert "unreachable" in json.loads(tools.search_knowledge("x"))["error"]


@pytest.mark.django_db(transaction=True)
def test_tools_file_looks_up_erp_records_and_stock_quotes(live_server, make_user, make_api_key):
    import datetime as dt

    from tests.erp.factories import CustomerFactory
    from tests.stock.factories import InstrumentFactory, PriceBarFactory

    CustomerFactory(code="ACME", name="Acme Ltd", payment_terms_days=45)
    instrument = InstrumentFactory(symbol="ORCL", exchange="XNYS", currency="USD")
    day = dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    PriceBarFactory(instrument=instrument, ts=day - dt.timedelta(days=1), close=100.0)
    PriceBarFactory(instrument=instrument, ts=day, open=104.0, high=106.0, low=103.0, close=105.0)
    tools = load_tools()
    tools.valves = tools.Valves(aistack_url=live_server.url, aistack_api_key=make_api_key(make_user(role="user"))[1])

    customer = json.loads(tools.erp_lookup("customer", "acme"))
    assert (customer["code"], customer["name"], customer["payment_terms_days"]) == ("ACME", "Acme Ltd", 45)
    assert "No customer" in json.loads(tools.erp_lookup("customer", "NOPE"))["error"]
    quote = json.loads(tools.stock_quote("orcl"))
    assert (quote["symbol"], quote["price"], quote["change"], quote["change_percent"]) == ("ORCL", 105.0, 5.0, 5.0)
    assert quote["as_of"].startswith("2024-05-02")
    assert "Unknown symbol" in json.loads(tools.stock_quote("NOPE"))["error"]

    # a guest's key reaches no ERP data through the tools (a guest may not use the chat centre)
    tools.valves = tools.Valves(aistack_url=live_server.url, aistack_api_key=make_api_key(make_user(role="guest"))[1])
    denied = json.loads(tools.erp_lookup("customer", "ACME"))
    assert "Acme" not in json.dumps(denied) and "permission" in denied["error"].lower()
