"""The backtester: execution model, commission and slippage arithmetic, sizing, shorts, metrics, no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.exceptions import ValidationFailed
from apps.stock.backtest.chart import equity_chart_svg
from apps.stock.backtest.config import config_from_input
from apps.stock.backtest.engine import decide, run_backtest
from apps.stock.backtest.performance import bar_days, performance_metrics
from apps.stock.strategies import STRATEGY_KINDS, BarData, Events, get_kind


def bars(opens, closes, start="2020-01-01") -> BarData:
    opens, closes = np.asarray(opens, float), np.asarray(closes, float)
    return BarData(
        pd.DataFrame(
            {
                "ts": pd.date_range(start, periods=len(closes), freq="D", tz="UTC"),
                "open": opens,
                "high": np.maximum(opens, closes) + 1,
                "low": np.minimum(opens, closes) - 1,
                "close": closes,
                "volume": 1000.0,
            }
        )
    )


HOLD = get_kind("buy_and_hold")


def test_market_order_fills_at_next_open_with_percent_commission_and_slippage() -> None:
    data = bars([10, 11, 12, 13], [10.5, 11.5, 12.5, 14])
    cfg = config_from_input(
        {
            "initial_cash": 1000,
            "commission": {"model": "percent", "rate": 0.001},
            "slippage_bps": 10,
            "sizing": {"model": "fixed", "quantity": 10},
        }
    )
    result = run_backtest(data, HOLD, {}, cfg)
    (trade,) = result.trades
    price = 11 * 1.001  # signal at the close of bar 0, fill at the open of bar 1, 10 bps worse
    assert trade["entry_price"] == pytest.approx(price)
    assert trade["entry_ts"] == pd.Timestamp("2020-01-02", tz="UTC")
    commission = 10 * price * 0.001
    assert trade["commission"] == pytest.approx(commission)
    assert result.final_cash == pytest.approx(1000 - 10 * price - commission)
    assert result.final_value == pytest.approx(1000 - 10 * price - commission + 10 * 14)
    assert result.equity[0] == 1000  # flat at the close of the signal bar
    assert trade["is_open"] and trade["gross_pnl"] == pytest.approx(10 * (14 - price))


def test_fill_on_close_and_per_share_and_fixed_commissions() -> None:
    data = bars([10, 11, 12, 13], [10.5, 11.5, 12.5, 14])
    per_share = config_from_input(
        {
            "initial_cash": 1000,
            "commission": {"model": "per_share", "per_share": 0.01, "minimum": 1.5},
            "fill_on_close": True,
            "sizing": {"model": "fixed", "quantity": 10},
        }
    )
    result = run_backtest(data, HOLD, {}, per_share)
    assert result.trades[0]["entry_price"] == 10.5
    assert result.trades[0]["commission"] == 1.5  # 10 * 0.01 = 0.10 < minimum 1.5
    assert result.final_cash == pytest.approx(1000 - 105 - 1.5)
    big = config_from_input(
        {
            "initial_cash": 10000,
            "commission": {"model": "per_share", "per_share": 0.01, "minimum": 1.5},
            "sizing": {"model": "fixed", "quantity": 500},
        }
    )
    assert run_backtest(data, HOLD, {}, big).trades[0]["commission"] == pytest.approx(5.0)
    fixed = config_from_input(
        {
            "initial_cash": 1000,
            "commission": {"model": "fixed", "amount": 2.5},
            "sizing": {"model": "fixed", "quantity": 1},
        }
    )
    assert run_backtest(data, HOLD, {}, fixed).final_cash == pytest.approx(1000 - 11 - 2.5)


def test_sizing_percent_and_all_in_are_capped_by_cash() -> None:
    data = bars([10, 20, 20, 20], [10, 20, 20, 20])
    percent = config_from_input({"initial_cash": 1000, "sizing": {"model": "percent", "percent": 50}})
    assert run_backtest(data, HOLD, {}, percent).trades[0]["quantity"] == 50  # 50 % of 1000 at close 10
    all_in = config_from_input(
        {"initial_cash": 1000, "sizing": {"model": "all_in"}, "commission": {"model": "fixed", "amount": 1}}
    )
    trade = run_backtest(data, HOLD, {}, all_in).trades[0]
    # sized at the close (100 shares of 10) but the open gapped to 20: capped to what 1000 buys incl. commission
    assert trade["quantity"] == 49


def test_round_trip_and_short_side() -> None:
    closes = [10, 9, 8, 9, 10, 11, 12, 11, 10, 9, 8, 7]
    data = bars(closes, closes)
    kind = get_kind("close_vs_sma")
    long_only = run_backtest(
        data, kind, {"period": 2}, config_from_input({"sizing": {"model": "fixed", "quantity": 1}})
    )
    assert all(t["side"] == "long" for t in long_only.trades)
    both = run_backtest(
        data, kind, {"period": 2}, config_from_input({"sizing": {"model": "fixed", "quantity": 1}, "allow_short": True})
    )
    sides = [t["side"] for t in both.trades]
    assert "short" in sides and "long" in sides
    short = next(t for t in both.trades if t["side"] == "short" and not t["is_open"])
    assert short["gross_pnl"] == pytest.approx(-(short["exit_price"] - short["entry_price"]))
    assert both.position.min() == -1


def test_decide_state_machine_with_colliding_events() -> None:
    n = 5
    entry = np.array([1, 0, 1, 1, 0], bool)
    exit_ = np.array([0, 0, 1, 1, 0], bool)
    none = np.zeros(n, bool)
    # flat->long at 0; at 2 both: long exits; at 3 both: flat enters
    assert decide(Events(entry, exit_, none, none), allow_short=False).tolist() == [1, 1, 0, 1, 1]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["entry", "exit", "none"]), min_size=1, max_size=80))
def test_vectorised_decisions_equal_the_sequential_state_machine(marks) -> None:
    entry = np.array([m == "entry" for m in marks])
    exit_ = np.array([m == "exit" for m in marks])
    none = np.zeros(len(marks), bool)
    events = Events(entry, exit_, none, none)
    fast = decide(events, allow_short=False)
    assert fast.tolist() == decide(events, allow_short=False, sequential=True).tolist()


def test_settings_validation() -> None:
    with pytest.raises(ValidationFailed) as exc:
        config_from_input(
            {"initial_cash": -5, "commission": {"model": "bogus"}, "sizing": {"model": "fixed", "quantity": 0}}
        )
    assert {"initial_cash", "commission.model", "sizing.quantity"} <= set(exc.value.details)


def test_metrics_on_a_hand_built_equity_curve() -> None:
    ts = pd.Series(pd.date_range("2021-01-01", periods=5, freq="D", tz="UTC"))
    equity = np.array([100.0, 110.0, 99.0, 121.0, 121.0])
    trades = [{"pnl": 10.0}, {"pnl": -5.0}, {"pnl": 20.0}, {"pnl": 1.0, "is_open": True}]
    m = performance_metrics(
        days=bar_days(ts),
        equity=equity,
        initial=100.0,
        trades=trades,
        position=np.array([0, 1, 1, 1, 0]),
        periods_per_year=252,
        risk_free=0.0,
    )
    returns = np.array([0.0, 0.1, -0.1, 121 / 99 - 1, 0.0])
    assert m["total_return"] == pytest.approx(0.21)
    assert m["max_drawdown"] == pytest.approx(-0.1)
    assert (m["max_drawdown_start"], m["max_drawdown_end"], m["max_drawdown_recovery"]) == (
        "2021-01-02",
        "2021-01-03",
        "2021-01-04",
    )
    assert m["volatility"] == pytest.approx(returns.std(ddof=1) * math.sqrt(252))
    assert m["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert m["sortino"] == pytest.approx(returns.mean() / downside * math.sqrt(252))
    years = 4 / 365.25
    assert m["cagr"] == pytest.approx(1.21 ** (1 / years) - 1)
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.1)
    assert (m["trades"], m["open_trades"]) == (3, 1)
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(30 / 5)
    assert m["exposure"] == pytest.approx(0.6)


def test_chart_is_svg() -> None:
    svg = equity_chart_svg(["2021-01-01", "2021-01-02"], [100.0, 90.0], title="t <x>")
    assert svg.startswith("<svg") and "polyline" in svg and "t &lt;x&gt;" in svg


# --- No look-ahead ---------------------------------------------------------------------------------------------------

DEFAULTS = {name: kind.validate({}) for name, kind in STRATEGY_KINDS.items()}
SMALL = {
    **DEFAULTS,
    "sma_cross": {"fast": 2, "slow": 5},
    "ema_cross": {"fast": 2, "slow": 5},
    "close_vs_sma": {"period": 3},
}
SMALL.update(
    {"rsi_reversion": {"period": 3, "lower": 40.0, "upper": 60.0}, "macd_signal": {"fast": 2, "slow": 4, "signal": 2}}
)
SMALL["bollinger_reversion"] = {"period": 4, "k": 1.0}

price_lists = st.lists(st.floats(min_value=1.0, max_value=200.0, allow_nan=False), min_size=12, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    closes=price_lists,
    opens_seed=st.integers(0, 2**31 - 1),
    cut=st.floats(0.0, 1.0),
    kind_name=st.sampled_from(sorted(SMALL)),
    short=st.booleans(),
)
def test_changing_bars_after_t_never_changes_decisions_at_t(closes, opens_seed, cut, kind_name, short) -> None:
    rng = np.random.default_rng(opens_seed)
    closes = np.asarray(closes)
    opens = closes * rng.uniform(0.95, 1.05, len(closes))
    t = int(cut * (len(closes) - 1))
    altered_closes = closes.copy()
    altered_opens = opens.copy()
    altered_closes[t + 1 :] = rng.uniform(1.0, 200.0, len(closes) - t - 1)
    altered_opens[t + 1 :] = rng.uniform(1.0, 200.0, len(closes) - t - 1)
    kind = get_kind(kind_name)
    cfg = config_from_input(
        {
            "allow_short": short,
            "sizing": {"model": "percent", "percent": 50},
            "commission": {"model": "percent", "rate": 0.001},
        }
    )
    before = run_backtest(bars(opens, closes), kind, SMALL[kind_name], cfg, with_metrics=False)
    after = run_backtest(bars(altered_opens, altered_closes), kind, SMALL[kind_name], cfg, with_metrics=False)
    assert before.decisions[: t + 1].tolist() == after.decisions[: t + 1].tolist()
    # and everything booked up to the close of bar t is identical (fills happen at the open of t+1 at the earliest)
    np.testing.assert_array_equal(before.equity[: t + 1], after.equity[: t + 1])


# --- Several instruments: one portfolio of equal sleeves -------------------------------------------------------------


def test_portfolio_backtest_splits_cash_and_sums_sleeves_by_day() -> None:
    from apps.stock.backtest.engine import run_portfolio_backtest

    early = bars([10, 11, 12, 13, 14, 15], [10, 11, 12, 13, 14, 15], start="2020-01-01")
    late = bars([20, 22, 18], [21, 19, 17], start="2020-01-03")  # starts two days later, ends a day earlier
    cfg = config_from_input(
        {
            "initial_cash": 1000,
            "sizing": {"model": "fixed", "quantity": 10},
            "commission": {"model": "fixed", "amount": 1},
        }
    )
    result = run_portfolio_backtest({"A": early, "B": late}, HOLD, {}, cfg)
    half = config_from_input({**cfg.as_dict(), "initial_cash": 500})
    alone_a = run_backtest(early, HOLD, {}, half, with_metrics=False)
    alone_b = run_backtest(late, HOLD, {}, half, with_metrics=False)
    assert [str(d) for d in result.days] == [f"2020-01-0{i}" for i in range(1, 7)]
    # B is carried at its initial 500 before its first bar and at its last value after its last bar
    expected = [alone_a.equity[0] + 500, alone_a.equity[1] + 500]
    expected += [alone_a.equity[i] + alone_b.equity[i - 2] for i in (2, 3, 4)]
    expected += [alone_a.equity[5] + alone_b.equity[2]]
    np.testing.assert_allclose(result.equity, expected)
    assert result.equity[0] == 1000
    assert result.final_value == pytest.approx(alone_a.equity[-1] + alone_b.equity[-1])
    # bought at the open of each instrument's second bar: A on Jan 2 (11), B on Jan 4 (22)
    assert [(t["instrument"], t["seq"], t["entry_price"]) for t in result.trades] == [("A", 1, 11.0), ("B", 2, 22.0)]
    assert result.position.tolist() == [0, 1, 1, 1, 1, 1]
    assert result.metrics["instruments"] == 2
    assert result.metrics["final_equity"] == pytest.approx(result.final_value)
    assert result.metrics["open_trades"] == 2


def test_portfolio_of_one_equals_the_single_instrument_backtest(orcl_frame) -> None:
    from apps.stock.backtest.engine import run_portfolio_backtest

    data = BarData(orcl_frame)
    kind = get_kind("sma_cross")
    cfg = config_from_input(
        {"commission": {"model": "percent", "rate": 0.001}, "sizing": {"model": "percent", "percent": 90}}
    )
    single = run_backtest(data, kind, {"fast": 10, "slow": 30}, cfg)
    portfolio = run_portfolio_backtest({"ORCL": data}, kind, {"fast": 10, "slow": 30}, cfg)
    assert portfolio.final_value == pytest.approx(single.final_value, abs=1e-9)
    assert {k: v for k, v in portfolio.metrics.items() if k != "instruments"} == pytest.approx(single.metrics)
    assert len(portfolio.trades) == len(single.trades)
