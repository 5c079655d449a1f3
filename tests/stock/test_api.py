"""The stock API: roles per endpoint, the backtest/sweep job flow, paper trading, bad input, query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.core.models import AuditLog
from apps.core.roles import ADMIN, GUEST, MANAGER, USER
from apps.core.testing import assert_anonymous_rejected, assert_error_body, assert_role_access
from apps.stock.models import BacktestRun, Order, Portfolio, Strategy, Sweep
from apps.stock.services import paper

from .factories import BacktestRunFactory, InstrumentFactory, PriceBarFactory, StrategyFactory

API = "/api/v1/stock"
ALL = [ADMIN, MANAGER, USER, GUEST]
TRADERS = [ADMIN, MANAGER, USER]


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run the Celery tasks queued on commit (they run eagerly in the test settings)."""

    def _call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return _call


def test_anonymous_is_rejected(db) -> None:
    for path in ("instruments/", "bars/", "indicators/?symbol=X&name=rsi", "backtests/", "orders/", "portfolios/"):
        assert_anonymous_rejected("get", f"{API}/{path}")


def test_read_endpoints_per_role(role_client, index_2006) -> None:
    for path in (
        "instruments/",
        "bars/?symbol=IDX",
        "strategy-kinds/",
        "indicators/?symbol=IDX&name=sma&period=5",
        "strategies/",
        "backtests/",
        "sweeps/",
        "portfolios/",
        "orders/",
        "positions/",
        "fills/",
    ):
        assert_role_access(role_client, "get", f"{API}/{path}", ALL)


def test_write_endpoints_per_role(role_client, index_2006, run_on_commit) -> None:
    # instruments are company-wide market data: managed with resources.manage (managers and admins), not stock.trade
    assert_role_access(
        role_client,
        "post",
        f"{API}/instruments/",
        ["admin", "manager"],
        data=lambda r: {"symbol": f"N{r[:3].upper()}", "name": "n"},
    )
    assert_role_access(
        role_client,
        "post",
        f"{API}/strategies/",
        TRADERS,
        data={"name": "s", "kind": "sma_cross", "params": {"fast": 5, "slow": 20}},
    )
    run_on_commit(
        assert_role_access, role_client, "post", f"{API}/backtests/", TRADERS, {"symbol": "IDX", "kind": "buy_and_hold"}
    )
    run_on_commit(
        assert_role_access,
        role_client,
        "post",
        f"{API}/sweeps/",
        TRADERS,
        {"symbol": "IDX", "kind": "sma_cross", "grid": {"fast": [5], "slow": [20]}},
    )
    assert_role_access(role_client, "post", f"{API}/portfolios/", TRADERS, data={"name": "p", "cash": "1000.00"})
    assert_role_access(role_client, "post", f"{API}/orders/match/", TRADERS)


def test_bars_filter_and_csv_export(role_client, index_2006, django_assert_max_num_queries) -> None:
    client = role_client(GUEST)
    with django_assert_max_num_queries(7):  # one reads the caller's limits for the API-call meter
        response = client.get(
            f"{API}/bars/",
            {"symbol": "idx", "timeframe": "1d", "start": "2006-03-01T00:00:00Z", "end": "2006-03-31T00:00:00Z"},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 23 and body["results"][0]["symbol"] == "IDX"
    csv_response = client.get(f"{API}/bars/", {"symbol": "IDX", "format": "csv"})
    assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
    lines = csv_response.content.decode().strip().splitlines()
    assert lines[0] == "symbol,timeframe,ts,open,high,low,close,adj_close,volume"
    assert len(lines) == 256 and lines[1].startswith("IDX,1d,2006-01-02T00:00:00+00:00,3578.73")


def test_bars_csv_of_one_bar_an_empty_selection_and_options(role_client, index_2006) -> None:
    client = role_client(GUEST)
    bar = index_2006.bars.order_by("ts").first()
    one = client.get(f"{API}/bars/{bar.pk}/", {"format": "csv"})
    assert one.status_code == 200 and one["Content-Type"].startswith("text/csv")
    header, row = one.content.decode().strip().splitlines()
    assert header.startswith("id,") and "IDX" in row
    # nothing selected: the header alone, still typed as CSV
    empty = client.get(f"{API}/bars/", {"symbol": "NONE", "format": "csv"})
    assert empty.status_code == 200 and empty["Content-Type"].startswith("text/csv")
    assert empty.content.decode().strip() == "symbol,timeframe,ts,open,high,low,close,adj_close,volume"
    assert client.options(f"{API}/bars/{bar.pk}/?format=csv").status_code == 200


def test_equity_curve_is_documented_as_the_plain_list_it_returns() -> None:
    from drf_spectacular.generators import SchemaGenerator

    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][f"{API}/backtests/{{id}}/equity/"]
    schema = operation["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"$ref": "#/components/schemas/EquityPoint"}}
    assert [p["name"] for p in operation["get"]["parameters"]] == ["id"]


def test_indicators_endpoint(role_client, index_2006) -> None:
    client = role_client(GUEST)
    body = client.get(f"{API}/indicators/", {"symbol": "IDX", "name": "rsi", "period": 14}).json()
    assert body["columns"] == ["ts", "rsi"] and len(body["rows"]) == 255
    assert body["rows"][13][1] is None and 0 <= body["rows"][14][1] <= 100
    macd = client.get(f"{API}/indicators/", {"symbol": "IDX", "name": "macd"}).json()
    assert macd["columns"] == ["ts", "macd", "signal", "histogram"]
    assert_error_body(client.get(f"{API}/indicators/", {"symbol": "NOPE", "name": "rsi"}), 404, "unknown_symbol")
    assert_error_body(client.get(f"{API}/indicators/", {"symbol": "IDX", "name": "nope"}), 400, "unknown_indicator")
    assert_error_body(client.get(f"{API}/indicators/", {"symbol": "IDX", "name": "rsi", "period": 0}), 400)


def test_strategy_params_are_validated(role_client, db) -> None:
    client = role_client(USER)
    bad = client.post(
        f"{API}/strategies/", {"name": "x", "kind": "sma_cross", "params": {"fast": 30, "slow": 10}}, format="json"
    )
    assert assert_error_body(bad, 400, "invalid_params")["details"]["params"] == {
        "slow": ["Must be greater than fast."]
    }
    rsi = client.post(
        f"{API}/strategies/",
        {"name": "x", "kind": "rsi_reversion", "params": {"lower": -5, "upper": 120}},
        format="json",
    )
    assert set(assert_error_body(rsi, 400, "invalid_params")["details"]["params"]) == {"lower", "upper"}
    assert_error_body(
        client.post(f"{API}/strategies/", {"name": "x", "kind": "nope"}, format="json"), 400, "unknown_kind"
    )
    assert not Strategy.objects.exists()
    ok = client.post(
        f"{API}/strategies/", {"name": "x", "kind": "rsi_reversion", "params": {"period": 10}}, format="json"
    )
    assert ok.status_code == 201 and ok.json()["params"] == {"period": 10, "lower": 30.0, "upper": 70.0}
    patched = client.patch(f"{API}/strategies/{ok.json()['id']}/", {"params": {"period": 0}}, format="json")
    assert_error_body(patched, 400, "invalid_params")


def test_backtest_flow(role_client, role_users, index_2006, run_on_commit) -> None:
    client = role_client(USER)
    strategy = StrategyFactory(owner=role_users[USER], kind="sma_cross", params={"fast": 5, "slow": 20})
    payload = {
        "strategy_id": strategy.pk,
        "symbol": "IDX",
        "initial_cash": 100000,
        "commission": {"model": "percent", "rate": 0.001},
        "slippage_bps": 5,
        "sizing": {"model": "fixed", "quantity": 10},
    }
    response = run_on_commit(client.post, f"{API}/backtests/", payload, format="json")
    assert response.status_code == 202
    run_id = response.json()["id"]
    body = client.get(f"{API}/backtests/{run_id}/").json()
    assert body["status"] == "succeeded", body
    assert body["config"]["params"] == {"fast": 5, "slow": 20} and body["config"]["slippage_bps"] == 5
    assert {"sharpe", "max_drawdown", "cagr", "calmar", "profit_factor", "exposure"} <= set(body["metrics"])
    trades = client.get(f"{API}/backtests/{run_id}/trades/").json()
    assert trades["count"] == body["metrics"]["trades"] + body["metrics"]["open_trades"] > 0
    equity = client.get(f"{API}/backtests/{run_id}/equity/").json()
    assert len(equity) == 255 and equity[0]["date"] == "2006-01-02"
    chart = client.get(f"{API}/backtests/{run_id}/chart/")
    assert chart.status_code == 200 and chart["Content-Type"] == "image/svg+xml" and chart.content.startswith(b"<svg")
    # others do not see it (404), the audit trail has the create
    assert client.get(f"{API}/backtests/{run_id}/").status_code == 200
    assert role_client(MANAGER).get(f"{API}/backtests/{run_id}/").status_code == 404
    assert AuditLog.objects.filter(target_type="stock.backtestrun", target_id=str(run_id), action="create").exists()


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"symbol": "NOPE", "kind": "buy_and_hold"}, 404, "unknown_symbol"),
        (
            {"symbol": "IDX", "kind": "buy_and_hold", "start": "2006-06-01T00:00:00Z", "end": "2006-05-01T00:00:00Z"},
            400,
            "empty_range",
        ),
        ({"symbol": "IDX", "kind": "buy_and_hold", "start": "2010-01-01T00:00:00Z"}, 400, "no_bars"),
        ({"symbol": "IDX", "kind": "sma_cross", "params": {"fast": 20, "slow": 20}}, 400, "invalid_params"),
        ({"symbol": "IDX", "kind": "rsi_reversion", "params": {"upper": 101}}, 400, "invalid_params"),
        ({"symbol": "IDX", "kind": "buy_and_hold", "initial_cash": -1}, 400, "invalid"),  # out of the field's range
        (
            {"symbol": "IDX", "kind": "buy_and_hold", "sizing": {"model": "fixed", "quantity": -3}},
            400,
            "invalid_settings",
        ),
        ({"symbol": "IDX"}, 400, "invalid"),
    ],
)
def test_backtest_bad_input_writes_nothing(role_client, index_2006, payload, status, code) -> None:
    response = role_client(USER).post(f"{API}/backtests/", payload, format="json")
    assert_error_body(response, status, code)
    assert not BacktestRun.objects.exists()


def test_backtest_on_several_instruments_is_one_portfolio(role_client, role_users, index_2006, run_on_commit) -> None:
    from apps.stock.services.bars import bars_import

    from .conftest import ORCL

    bars_import(source=ORCL, symbol="ORCL", timeframe="1d")
    client = role_client(USER)
    payload = {
        "symbols": ["idx", "ORCL"],
        "kind": "sma_cross",
        "params": {"fast": 5, "slow": 20},
        "start": "2006-01-01T00:00:00Z",
        "end": "2006-12-31T00:00:00Z",
        "initial_cash": 100000,
        "sizing": {"model": "percent", "percent": 50},
    }
    response = run_on_commit(client.post, f"{API}/backtests/", payload, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    body = client.get(f"{API}/backtests/{run_id}/").json()
    assert body["status"] == "succeeded", body
    assert body["symbols"] == ["IDX", "ORCL"] and body["metrics"]["instruments"] == 2
    trades = client.get(f"{API}/backtests/{run_id}/trades/", {"page_size": 200}).json()["results"]
    assert {t["symbol"] for t in trades} == {"IDX", "ORCL"}
    assert [t["seq"] for t in trades] == list(range(1, len(trades) + 1))
    assert [t["entry_ts"] for t in trades] == sorted(t["entry_ts"] for t in trades)
    equity = client.get(f"{API}/backtests/{run_id}/equity/").json()
    assert equity[-1]["equity"] == pytest.approx(body["metrics"]["final_equity"], abs=0.01)
    orcl_id = BacktestRun.objects.get(pk=run_id).instruments.get(symbol="ORCL").pk
    assert [r["id"] for r in client.get(f"{API}/backtests/", {"instrument_id": orcl_id}).json()["results"]] == [run_id]
    chart = client.get(f"{API}/backtests/{run_id}/chart/")
    assert chart.status_code == 200 and b"IDX, ORCL" in chart.content


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"symbols": ["IDX", "NOPE"]}, 404, "unknown_symbol"),
        ({"symbols": ["IDX", "idx"]}, 400, "invalid"),
        ({"symbols": []}, 400, "invalid"),
        ({"symbols": ["IDX"], "symbol": "IDX"}, 400, "invalid"),
        ({"symbols": ["IDX", "EMPTY"]}, 400, "no_bars"),
    ],
)
def test_backtest_symbols_bad_input_writes_nothing(role_client, index_2006, payload, status, code) -> None:
    InstrumentFactory(symbol="EMPTY")
    response = role_client(USER).post(f"{API}/backtests/", {"kind": "buy_and_hold", **payload}, format="json")
    assert_error_body(response, status, code)
    assert not BacktestRun.objects.exists()


def test_sweep_flow_ranked(role_client, index_2006, run_on_commit) -> None:
    client = role_client(MANAGER)
    payload = {
        "symbol": "IDX",
        "kind": "sma_cross",
        "grid": {"fast": {"start": 5, "stop": 15, "step": 5}, "slow": [20, 30, 10]},
        "rank_by": "total_return",
        "sizing": {"model": "percent", "percent": 100},
    }
    response = run_on_commit(client.post, f"{API}/sweeps/", payload, format="json")
    assert response.status_code == 202
    sweep = client.get(f"{API}/sweeps/{response.json()['id']}/").json()
    assert (
        sweep["status"] == "succeeded" and sweep["total"] == 7 and sweep["progress"] == 1.0
    )  # pairs with slow <= fast are skipped
    values = [r["metrics"]["total_return"] for r in sweep["results"]]
    assert values == sorted(values, reverse=True)
    full = client.get(f"{API}/sweeps/{sweep['id']}/results/").json()
    assert len(full["results"]) == 7
    bad = client.post(f"{API}/sweeps/", {**payload, "grid": {"fast": [50], "slow": [20]}}, format="json")
    assert_error_body(bad, 400, "invalid_grid")
    assert Sweep.objects.count() == 1


def test_portfolio_position_limit_out_of_range_is_a_400_and_writes_nothing(role_client) -> None:
    client = role_client(USER)
    for bad in ("0", "-1", "100.01"):
        assert_error_body(
            client.post(f"{API}/portfolios/", {"name": "p", "max_position_pct": bad}, format="json"), 400, "invalid"
        )
    assert not Portfolio.objects.exists()
    portfolio = client.post(f"{API}/portfolios/", {"name": "p", "max_position_pct": "25"}, format="json").json()
    url = f"{API}/portfolios/{portfolio['id']}/"
    for bad in ("0", "-1", "100.01"):
        response = client.patch(url, {"max_position_pct": bad}, format="json")
        assert_error_body(response, 400, "invalid")
        assert "max_position_pct" in response.json()["error"]["details"]
        response = client.put(url, {"name": "p", "max_position_pct": bad}, format="json")
        assert_error_body(response, 400, "invalid")
    assert Portfolio.objects.get().max_position_pct == Decimal("25")
    assert not AuditLog.objects.filter(target_type="stock.portfolio", action="update").exists()
    assert client.patch(url, {"max_position_pct": "100"}, format="json").status_code == 200


def test_paper_trading_flow(role_client, role_users, index_2006, run_on_commit) -> None:
    client = role_client(USER)
    assert_error_body(client.post(f"{API}/portfolios/", {"name": "p", "cash": "-5"}, format="json"), 400)
    portfolio = client.post(f"{API}/portfolios/", {"name": "p", "cash": "1000000.00"}, format="json").json()
    order = client.post(
        f"{API}/orders/",
        {"portfolio_id": portfolio["id"], "symbol": "IDX", "side": "buy", "quantity": "10"},
        format="json",
    )
    assert order.status_code == 201, order.content
    assert order.json()["status"] == "new" and Decimal(order.json()["reserved_cash"]) > 0
    last = index_2006.bars.order_by("-ts").first()
    PriceBarFactory(
        instrument=index_2006, ts=last.ts + dt.timedelta(days=1), open=3700, high=3710, low=3690, close=3705, volume=0
    )
    assert run_on_commit(client.post, f"{API}/orders/match/").status_code == 202
    filled = client.get(f"{API}/orders/{order.json()['id']}/").json()
    assert filled["status"] == "filled" and Decimal(filled["avg_fill_price"]) == Decimal("3700")
    positions = client.get(f"{API}/positions/").json()["results"]
    assert positions[0]["symbol"] == "IDX" and Decimal(positions[0]["unrealized_pnl"]) == Decimal("50.00")
    assert client.get(f"{API}/fills/").json()["count"] == 1
    valuation = client.get(f"{API}/portfolios/{portfolio['id']}/valuation/").json()
    assert Decimal(valuation["equity"]) == Decimal("1000000.00") - Decimal("37000") + Decimal("37050")
    # cancelling a filled order is a conflict
    assert_error_body(client.post(f"{API}/orders/{filled['id']}/cancel/"), 409, "order_not_open")
    # an open order cancels
    limit = client.post(
        f"{API}/orders/",
        {
            "portfolio_id": portfolio["id"],
            "symbol": "IDX",
            "side": "buy",
            "quantity": "1",
            "order_type": "limit",
            "limit_price": "100",
        },
        format="json",
    ).json()
    cancelled = client.post(f"{API}/orders/{limit['id']}/cancel/").json()
    assert cancelled["status"] == "cancelled" and Decimal(cancelled["reserved_cash"]) == 0


def test_order_bad_input_and_sharing(role_client, role_users, index_2006) -> None:
    owner = role_users[USER]
    portfolio = paper.portfolio_create(owner=owner, name="shared", cash=Decimal("10000"))
    client = role_client(USER)
    base = {"portfolio_id": portfolio.pk, "symbol": "IDX", "side": "buy"}
    assert_error_body(client.post(f"{API}/orders/", {**base, "quantity": "-1"}, format="json"), 400)
    assert_error_body(
        client.post(f"{API}/orders/", {**base, "quantity": "100"}, format="json"), 400, "insufficient_cash"
    )
    assert_error_body(client.post(f"{API}/orders/", {**base, "symbol": "NOPE", "quantity": "1"}, format="json"), 404)
    InstrumentFactory(symbol="OFF", is_active=False)
    assert_error_body(
        client.post(f"{API}/orders/", {**base, "symbol": "OFF", "quantity": "1"}, format="json"),
        400,
        "inactive_instrument",
    )
    assert not Order.objects.exists()
    # a manager does not see the portfolio (404) until it is shared read-only; then reading works, trading is 403
    manager = role_client(MANAGER)
    assert manager.get(f"{API}/portfolios/{portfolio.pk}/").status_code == 404
    assert_error_body(manager.post(f"{API}/orders/", {**base, "quantity": "1"}, format="json"), 404)
    share = client.post(f"{API}/portfolios/{portfolio.pk}/share/", {"user_id": role_users[MANAGER].pk}, format="json")
    assert share.status_code == 204
    assert manager.get(f"{API}/portfolios/{portfolio.pk}/").status_code == 200
    assert_error_body(manager.post(f"{API}/orders/", {**base, "quantity": "1"}, format="json"), 403)
    assert Portfolio.objects.get().reserved_cash == 0


def test_list_query_counts(role_client, role_users, index_2006, django_assert_max_num_queries) -> None:
    user = role_users[USER]
    for _ in range(5):
        BacktestRunFactory(owner=user, instrument=index_2006)
        StrategyFactory(owner=user)
    portfolio = paper.portfolio_create(owner=user, name="q", cash=Decimal("100000"))
    for _ in range(3):
        paper.order_place(portfolio=portfolio, actor=user, instrument=index_2006, side="buy", quantity=1)
    client = role_client(USER)
    for path in (
        "backtests/",
        "strategies/",
        "orders/",
        "positions/",
        "fills/",
        "portfolios/",
        "instruments/",
        "sweeps/",
    ):
        with django_assert_max_num_queries(8):
            assert client.get(f"{API}/{path}").status_code == 200


def test_deleting_an_instrument_still_held_is_a_conflict(role_client):
    from apps.stock.models import Instrument

    from .factories import PositionFactory

    position = PositionFactory(quantity=Decimal("5"))
    response = role_client(ADMIN).delete(f"/api/v1/stock/instruments/{position.instrument_id}/")
    error = assert_error_body(response, 409, "in_use")
    assert error["details"]["referenced_by"] == [f"stock.position:{position.pk}"]
    assert Instrument.objects.filter(pk=position.instrument_id).exists()
