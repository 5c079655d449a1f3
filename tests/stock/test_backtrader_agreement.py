"""Agreement with backtrader 1.9.78 (the reference implementation, test-only dependency): same rules — signal at
the close, market order filled at the next open, fixed stake, percent commission — give the same trades and the same
final portfolio value to the cent on the shared price files."""

from __future__ import annotations

import backtrader as bt
import pytest

from apps.stock.backtest.config import config_from_input
from apps.stock.backtest.engine import run_backtest
from apps.stock.providers import get_provider
from apps.stock.strategies import BarData, get_kind

from .conftest import NVDA, ORCL, YHOO

CASH, STAKE, COMMISSION = 100_000.0, 10, 0.001


class CloseVsSma(bt.Strategy):
    params = (("period", 15),)

    def __init__(self) -> None:
        self.sma = bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.period)
        self.closed = []

    def next(self) -> None:
        if not self.position:
            if self.data.close[0] > self.sma[0]:
                self.buy()
        elif self.data.close[0] < self.sma[0]:
            self.close()

    def notify_trade(self, trade) -> None:
        if trade.isclosed:
            self.closed.append(trade)


class SmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 30))

    def __init__(self) -> None:
        fast = bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.fast)
        slow = bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.slow)
        self.cross = bt.indicators.CrossOver(fast, slow)
        self.closed = []

    def next(self) -> None:
        if not self.position:
            if self.cross[0] > 0:
                self.buy()
        elif self.cross[0] < 0:
            self.close()

    def notify_trade(self, trade) -> None:
        if trade.isclosed:
            self.closed.append(trade)


REFERENCE = {"close_vs_sma": CloseVsSma, "sma_cross": SmaCross}


def backtrader_run(frame, kind: str, params: dict):
    cerebro = bt.Cerebro(stdstats=False)
    feed = frame.set_index(frame["ts"].dt.tz_localize(None))[["open", "high", "low", "close", "volume"]]
    cerebro.adddata(bt.feeds.PandasData(dataname=feed, openinterest=None))
    cerebro.addstrategy(REFERENCE[kind], **params)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMMISSION)
    cerebro.addsizer(bt.sizers.FixedSize, stake=STAKE)
    (strategy,) = cerebro.run()
    trades = [
        {
            "entry": bt.num2date(t.dtopen).date(),
            "exit": bt.num2date(t.dtclose).date(),
            "price": round(t.price, 6),
            "pnl": t.pnl,
            "pnlcomm": t.pnlcomm,
        }
        for t in strategy.closed
    ]
    return trades, cerebro.broker.getvalue()


CASES = [
    (path, kind, params)
    for path in (ORCL, NVDA, YHOO)
    for kind, params in (
        ("close_vs_sma", {"period": 15}),
        ("close_vs_sma", {"period": 50}),
        ("sma_cross", {"fast": 10, "slow": 30}),
        ("sma_cross", {"fast": 20, "slow": 100}),
    )
]


@pytest.mark.parametrize(
    ("path", "kind", "params"), CASES, ids=[f"{p.name[:4]}-{k}-{'-'.join(map(str, v.values()))}" for p, k, v in CASES]
)
def test_trades_and_final_value_equal_backtrader(path, kind, params) -> None:
    frame = get_provider("csv").fetch(path)
    config = config_from_input(
        {
            "initial_cash": CASH,
            "commission": {"model": "percent", "rate": COMMISSION},
            "sizing": {"model": "fixed", "quantity": STAKE},
        }
    )
    strategy = get_kind(kind)
    ours = run_backtest(BarData(frame), strategy, strategy.validate(params), config)
    expected_trades, expected_value = backtrader_run(frame, kind, params)

    closed = [
        {
            "entry": t["entry_ts"].date(),
            "exit": t["exit_ts"].date(),
            "price": round(t["entry_price"], 6),
            "pnl": t["gross_pnl"],
            "pnlcomm": t["pnl"],
        }
        for t in ours.trades
        if not t["is_open"]
    ]
    assert len(closed) > 10
    assert len(closed) == len(expected_trades)
    for mine, theirs in zip(closed, expected_trades, strict=True):
        assert (mine["entry"], mine["exit"], mine["price"]) == (theirs["entry"], theirs["exit"], theirs["price"])
        # equal to the cent — in fact to float noise (the two sum in different orders)
        assert mine["pnl"] == pytest.approx(theirs["pnl"], abs=1e-6)
        assert mine["pnlcomm"] == pytest.approx(theirs["pnlcomm"], abs=1e-6)
    assert ours.final_value == pytest.approx(expected_value, abs=1e-6)
