"""Stock backtester benchmarks.

    DJANGO_ENV=test python benchmarks/stock_bench.py [--repeat 5] [--symbols 500] [--skip-load | --load-only]

1. One backtest over 20 years of daily bars (ORCL 1995-2014, 5,036 bars): our vectorised engine vs backtrader 1.9.78
   on the same rules (close_vs_sma(15) and sma_cross(10, 30), next-open fills, fixed stake 10, 0.1 % commission).
   Both sides include everything from bars in memory to trades and final value (ours also computes indicators from
   scratch, the metrics and trade timestamps). Median of --repeat runs; ratio = backtrader / ours.
2. A parameter sweep: sma_cross fast 5..50 x slow 20..200 step 4 (slow > fast: ~2,000 sets) through ``sweep_run``,
   the function the ``stock.run_sweep`` task runs (bars read once, indicators shared between sets).
3. Bulk load: --symbols synthetic symbols x 5,036 daily bars through ``bars_load_many`` (validation, one binary COPY
   built from NumPy arrays; a large first load drops and rebuilds the bar table's indexes in the same transaction),
   then a re-load of 50 of them (COPY into a temporary table + INSERT ... ON CONFLICT), in a throw-away database
   ``bench_stock``. --load-only skips 1 and 2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aistack.settings")
os.environ.setdefault("DJANGO_ENV", "test")

import django  # noqa: E402

django.setup()

import backtrader as bt  # noqa: E402
import pandas as pd  # noqa: E402

from apps.stock.backtest.config import config_from_input  # noqa: E402
from apps.stock.backtest.engine import run_backtest  # noqa: E402
from apps.stock.providers import get_provider  # noqa: E402
from apps.stock.services.research import sweep_combinations, sweep_run  # noqa: E402
from apps.stock.strategies import BarData, get_kind  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "prices" / "orcl-1995-2014.txt"
FIXTURE = ROOT / "tests" / "stock" / "fixtures" / "orcl-1995-2014.txt"
CONFIG = {
    "initial_cash": 100_000,
    "commission": {"model": "percent", "rate": 0.001},
    "sizing": {"model": "fixed", "quantity": 10},
}


class CloseVsSma(bt.Strategy):
    params = (("period", 15),)

    def __init__(self) -> None:
        self.sma = bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.period)

    def next(self) -> None:
        if not self.position:
            if self.data.close[0] > self.sma[0]:
                self.buy()
        elif self.data.close[0] < self.sma[0]:
            self.close()


class SmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 30))

    def __init__(self) -> None:
        self.cross = bt.indicators.CrossOver(
            bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.fast),
            bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.slow),
        )

    def next(self) -> None:
        if not self.position:
            if self.cross[0] > 0:
                self.buy()
        elif self.cross[0] < 0:
            self.close()


def backtrader_value(frame: pd.DataFrame, strategy: type, params: dict) -> float:
    cerebro = bt.Cerebro(stdstats=False)
    feed = frame.set_index(frame["ts"].dt.tz_localize(None))[["open", "high", "low", "close", "volume"]]
    cerebro.adddata(bt.feeds.PandasData(dataname=feed, openinterest=None))
    cerebro.addstrategy(strategy, **params)
    cerebro.broker.setcash(100_000)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addsizer(bt.sizers.FixedSize, stake=10)
    cerebro.run()
    return cerebro.broker.getvalue()


def ours_value(frame: pd.DataFrame, kind: str, params: dict) -> float:
    strategy = get_kind(kind)
    return run_backtest(BarData(frame), strategy, strategy.validate(params), config_from_input(CONFIG)).final_value


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_backtests(frame: pd.DataFrame, repeat: int) -> None:
    print(f"bars: {len(frame)} ({frame['ts'].iloc[0].date()} .. {frame['ts'].iloc[-1].date()})")
    for kind, strategy, params in (
        ("close_vs_sma", CloseVsSma, {"period": 15}),
        ("sma_cross", SmaCross, {"fast": 10, "slow": 30}),
    ):
        ours_value(frame, kind, params)  # warm-up (imports, first allocations)
        theirs_t, theirs = timed(lambda s=strategy, p=params: backtrader_value(frame, s, p), repeat)
        ours_t, ours = timed(lambda k=kind, p=params: ours_value(frame, k, p), repeat * 4)
        assert abs(ours - theirs) < 0.005, (ours, theirs)
        print(
            f"{kind:13s} backtrader {theirs_t * 1000:8.1f} ms  ours {ours_t * 1000:6.2f} ms  "
            f"ratio {theirs_t / ours_t:6.1f}x  final value {ours:,.2f} (equal)"
        )


def bench_sweep(frame: pd.DataFrame) -> None:
    grid = {"fast": {"start": 5, "stop": 50, "step": 1}, "slow": {"start": 20, "stop": 200, "step": 4}}
    combos = sweep_combinations("sma_cross", grid)
    start = time.perf_counter()
    results = sweep_run(BarData(frame), "sma_cross", combos, config_from_input(CONFIG))
    elapsed = time.perf_counter() - start
    best = max(results, key=lambda r: r["metrics"]["sharpe"] or -1e9)
    print(
        f"sweep sma_cross: {len(combos)} parameter sets in {elapsed:.2f} s "
        f"({elapsed / len(combos) * 1000:.2f} ms each); "
        f"best Sharpe {best['metrics']['sharpe']:.3f} at {best['params']}"
    )


def bench_load(frame: pd.DataFrame, symbols: int) -> None:
    from django.db import connection

    from apps.stock.models import Instrument
    from apps.stock.services.bars import bars_load_many

    connection.settings_dict["TEST"]["NAME"] = "bench_stock"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        instruments = Instrument.objects.bulk_create(
            [Instrument(symbol=f"B{i:04d}", name="bench") for i in range(symbols)]
        )
        items = []
        for i, instrument in enumerate(instruments):
            scaled = frame.copy()
            factor = 1.0 + i / 1000.0
            for column in ("open", "high", "low", "close", "adj_close"):
                scaled[column] = scaled[column] * factor
            items.append((instrument, scaled))
        total = sum(len(f) for _, f in items)
        print(f"load average before the load: {os.getloadavg()[0]:.2f}")
        start = time.perf_counter()
        result = bars_load_many(items=items, timeframe="1d")
        elapsed = time.perf_counter() - start
        print(
            f"bulk load: {total:,} bars ({symbols} symbols x {len(frame)}) in {elapsed:.1f} s "
            f"= {total / elapsed:,.0f} bars/s ({result['inserted']:,} inserted)"
        )
        start = time.perf_counter()
        result = bars_load_many(items=items[:50], timeframe="1d")
        elapsed = time.perf_counter() - start
        total = sum(len(f) for _, f in items[:50])
        print(
            f"re-load (upsert of existing rows): {total:,} bars in {elapsed:.1f} s "
            f"= {total / elapsed:,.0f} bars/s ({result['updated']:,} updated)"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--load-only", action="store_true")
    args = parser.parse_args()
    frame = get_provider("csv").fetch(SHARED if SHARED.is_file() else FIXTURE)
    if not args.load_only:
        bench_backtests(frame, args.repeat)
        bench_sweep(frame)
    if not args.skip_load:
        bench_load(frame, args.symbols)


if __name__ == "__main__":
    main()
