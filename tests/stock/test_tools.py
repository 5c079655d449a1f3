"""The stock system's tools: stock_quote and stock_latest_bars, registered by the stock app, market data for every
holder of stock.read."""

import datetime as dt

import pytest

from apps.core.exceptions import Forbidden, ValidationFailed
from apps.core.roles import ROLES
from apps.core.tools import ToolFailed, get_tool, tool_run, tools_available_to
from tests.stock.factories import InstrumentFactory, PriceBarFactory

pytestmark = pytest.mark.django_db
DAY = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


@pytest.fixture
def orcl():
    instrument = InstrumentFactory(symbol="ORCL", exchange="XNYS")
    for n, close in enumerate([90.0, 100.0, 105.0]):
        PriceBarFactory(instrument=instrument, ts=DAY + dt.timedelta(days=n), low=80.0, high=110.0, close=close)
    PriceBarFactory(instrument=instrument, timeframe="1h", ts=DAY, low=80.0, high=110.0, close=95.5)
    return instrument


def run(name, user, arguments, api_key=None):
    return tool_run(name=name, arguments=arguments, user=user, api_key=api_key)


def test_they_are_the_stock_apps_tools_needing_stock_read():
    for name in ("stock_quote", "stock_latest_bars"):
        tool = get_tool(name)
        assert tool.handler.__module__ == "apps.stock.tools" and tool.permission == "stock.read"


@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_gets_quotes_and_bars(orcl, make_user, role):
    user = make_user(role=role)
    assert {"stock_quote", "stock_latest_bars"} <= {t.name for t in tools_available_to(user=user)}
    quote = run("stock_quote", user, {"symbol": "orcl"})
    assert (quote["symbol"], quote["price"], quote["change"], quote["change_percent"]) == ("ORCL", 105.0, 5.0, 5.0)
    assert quote["as_of"].startswith("2024-05-03")
    bars = run("stock_latest_bars", user, {"symbol": "ORCL", "count": 2})
    assert [b["close"] for b in bars["bars"]] == [100.0, 105.0]  # the latest two, oldest first
    assert bars["timeframe"] == "1d" and bars["bars"][0]["ts"].startswith("2024-05-02")


def test_latest_bars_of_another_timeframe_and_by_default(orcl, make_user):
    user = make_user(role="guest")
    hourly = run("stock_latest_bars", user, '{"symbol": "ORCL", "exchange": "xnys", "timeframe": "1h"}')
    assert [b["close"] for b in hourly["bars"]] == [95.5]
    assert len(run("stock_latest_bars", user, {"symbol": "ORCL"})["bars"]) == 3


def test_an_instrument_without_prices_and_an_unknown_symbol(make_user):
    InstrumentFactory(symbol="NEW")
    user = make_user(role="user")
    assert run("stock_quote", user, {"symbol": "NEW"})["price"] is None
    assert run("stock_latest_bars", user, {"symbol": "NEW"})["bars"] == []
    with pytest.raises(ToolFailed) as caught:
        run("stock_quote", user, {"symbol": "NOPE"})
    assert caught.value.code == "unknown_symbol"


def test_without_stock_read_or_its_scope_no_prices(orcl, make_user, make_api_key):
    with pytest.raises(Forbidden):
        run("stock_quote", make_user(), {"symbol": "ORCL"})
    user = make_user(role="user")
    erp_only, _ = make_api_key(user, scopes=["chat.use", "erp.read"])
    assert {t.name for t in tools_available_to(user=user, api_key=erp_only)} == {"erp_lookup", "resources_my_quota"}
    for name in ("stock_quote", "stock_latest_bars"):
        with pytest.raises(Forbidden):
            run(name, user, {"symbol": "ORCL"}, api_key=erp_only)
    stock_only, _ = make_api_key(user, scopes=["stock.read"])
    assert run("stock_quote", user, {"symbol": "ORCL"}, api_key=stock_only)["price"] == 105.0


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("stock_quote", {}),
        ("stock_quote", {"symbol": ""}),
        ("stock_quote", {"symbol": "ORCL", "exchange": 1}),
        ("stock_latest_bars", {"symbol": "ORCL", "count": 0}),
        ("stock_latest_bars", {"symbol": "ORCL", "count": 101}),
        ("stock_latest_bars", {"symbol": "ORCL", "timeframe": "1w"}),
        ("stock_latest_bars", {"symbol": "ORCL", "from": "2024-01-01"}),
    ],
)
def test_bad_arguments_are_refused_by_the_schema(orcl, make_user, name, arguments):
    with pytest.raises(ValidationFailed) as caught:
        run(name, make_user(role="user"), arguments)
    assert caught.value.code == "invalid_arguments"
