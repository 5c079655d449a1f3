"""The vectorised backtester.

Execution model: a strategy's events are evaluated at the close of bar t (using data up to t only); the resulting
market order fills at the open of bar t+1 (or at the close of bar t with ``fill_on_close``). A decision on the last
bar has no next bar and is not executed. Slippage moves the fill price against the trader by ``slippage_bps``;
commission is charged on each fill by the configured model. Sizing: ``fixed`` quantity, ``percent`` of equity or
``all_in``, measured at the decision bar's close, in whole units, and capped at the fill to what the cash affords
(no leverage). The position is closed before a reversal. Several instruments run as equal sleeves of one portfolio
(``run_portfolio_backtest``).

Everything per bar is NumPy; the only Python loops run over position *changes* (a few per hundred bars), plus, for
rule sets whose next state depends on the current one and whose events collide, over bars that carry an event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..indicators import ffill
from ..strategies import BarData, Events, StrategyKind
from .config import BacktestConfig
from .performance import daily_equity, performance_metrics


@dataclass
class BacktestResult:
    decisions: np.ndarray  # desired direction after each bar's close (-1, 0, 1)
    position: np.ndarray  # quantity held at each bar's close
    equity: np.ndarray  # portfolio value at each bar's close
    trades: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    final_value: float = 0.0
    final_cash: float = 0.0


def decide(events: Events, *, allow_short: bool, sequential: bool = False) -> np.ndarray:
    """Desired direction after each bar from the event arrays (a small state machine). ``sequential`` forces the
    loop even where the vectorised path applies (the tests check that both agree)."""
    el, xl = np.asarray(events.entry_long, bool), np.asarray(events.exit_long, bool)
    n = len(el)
    if not sequential and not allow_short and not (el & xl).any():
        # Long-only without colliding events: the state is the last event (entry -> 1, exit -> 0).
        marks = np.full(n, np.nan)
        marks[xl] = 0.0
        marks[el] = 1.0
        filled = ffill(marks)
        filled[np.isnan(filled)] = 0.0
        return filled.astype("int8")
    es = np.asarray(events.entry_short, bool) if allow_short else np.zeros(n, bool)
    xs = np.asarray(events.exit_short, bool) if allow_short else np.zeros(n, bool)
    idx = np.flatnonzero(el | xl | es | xs)
    out = np.zeros(n, dtype="int8")
    state, last = 0, 0
    columns = (idx.tolist(), el[idx].tolist(), xl[idx].tolist(), es[idx].tolist(), xs[idx].tolist())
    for i, a, b, c, d in zip(*columns, strict=True):
        if state == 1:
            new = (-1 if c else 0) if b else 1
        elif state == -1:
            new = (1 if a else 0) if d else -1
        else:
            new = 1 if a else (-1 if c else 0)
        if new != state:
            out[last:i] = state
            state, last = new, i
    out[last:] = state
    return out


def _affordable(cash: float, price: float, qty: float, commission: Any) -> float:
    """Largest whole quantity <= qty whose cost plus commission fits in cash."""
    if qty * price + commission(qty, price) <= cash:
        return qty
    if price <= 0 or cash <= 0:
        return 0.0
    qty = min(qty, math.floor(cash / price))
    while qty > 0 and qty * price + commission(qty, price) > cash + 1e-9:
        qty -= max(1.0, math.floor((qty * price + commission(qty, price) - cash) / price))
    return max(qty, 0.0)


def simulate(
    data: BarData, decisions: np.ndarray, config: BacktestConfig, *, trade_times: bool = True
) -> BacktestResult:
    n = len(data)
    open_, close = data.open, data.close
    commission = config.commission_fn()
    slip = config.slippage_bps / 10_000.0
    sizing = config.sizing
    changes = np.flatnonzero(np.diff(decisions, prepend=np.int8(0)))
    shift = 0 if config.fill_on_close else 1
    changes = changes[changes + shift < n]

    cash, qty = float(config.initial_cash), 0.0
    fill_bars: list[int] = []
    cash_after: list[float] = []
    qty_after: list[float] = []
    trades: list[dict[str, Any]] = []
    entry: dict[str, Any] | None = None
    targets = decisions[changes].tolist()
    decision_close = close[changes].tolist()  # Python floats: scalar arithmetic in the loop stays cheap
    fill_base = decision_close if config.fill_on_close else open_[changes + shift].tolist()
    for t, target, close_t, base in zip(changes.tolist(), targets, decision_close, fill_base, strict=True):
        f = t + shift
        equity_at_decision = cash + qty * close_t
        if qty != 0 and (target == 0 or (target > 0) != (qty > 0)):
            direction = -1.0 if qty > 0 else 1.0  # selling a long, buying back a short
            price = base * (1.0 + direction * slip)
            comm = commission(abs(qty), price)
            cash += qty * price - comm
            assert entry is not None
            gross = qty * (price - entry["entry_price"])
            entry.update(
                exit_bar=f,
                exit_price=price,
                gross_pnl=gross,
                commission=entry["commission"] + comm,
                pnl=gross - entry["commission"] - comm,
            )
            trades.append(entry)
            entry, qty = None, 0.0
        if target != 0 and qty == 0:
            price = base * (1.0 + target * slip)
            model = sizing["model"]
            if model == "fixed":
                size = float(sizing["quantity"])
            else:
                share = sizing.get("percent", 100.0) / 100.0
                size = float(math.floor(max(equity_at_decision, 0.0) * share / close_t))
            if target > 0:
                size = _affordable(cash, price, size, commission)
            else:
                size = min(size, float(math.floor(max(cash, 0.0) / price)))
            if size > 0:
                comm = commission(size, price)
                cash -= target * size * price + comm
                qty = target * size
                entry = {
                    "side": "long" if target > 0 else "short",
                    "quantity": size,
                    "entry_bar": f,
                    "entry_price": price,
                    "commission": comm,
                }
        fill_bars.append(f)
        cash_after.append(cash)
        qty_after.append(qty)

    # Piecewise-constant cash and quantity between fills, valued at each close.
    which = np.searchsorted(np.asarray(fill_bars, dtype="int64"), np.arange(n), side="right") - 1
    cash_path = np.concatenate([[float(config.initial_cash)], cash_after])[which + 1]
    qty_path = np.concatenate([[0.0], qty_after])[which + 1]
    equity = cash_path + qty_path * close
    if entry is not None:
        gross = qty * (float(close[-1]) - entry["entry_price"])
        entry.update(exit_bar=None, exit_price=None, gross_pnl=gross, pnl=gross - entry["commission"], is_open=True)
        trades.append(entry)
    if trades and trade_times:
        entries = data.stamps[[t["entry_bar"] for t in trades]]
        exits = data.stamps[[t["exit_bar"] if t["exit_bar"] is not None else 0 for t in trades]]
        for seq, (trade, entered, exited) in enumerate(zip(trades, entries, exits, strict=True), start=1):
            trade["seq"] = seq
            trade["entry_ts"] = entered
            trade["exit_ts"] = exited if trade["exit_bar"] is not None else None
            trade.setdefault("is_open", False)
    elif trades:
        for seq, trade in enumerate(trades, start=1):
            trade["seq"] = seq
            trade.setdefault("is_open", False)
    return BacktestResult(
        decisions=decisions,
        position=qty_path,
        equity=equity,
        trades=trades,
        final_value=float(equity[-1]),
        final_cash=cash,
    )


def run_backtest(
    data: BarData,
    kind: StrategyKind,
    params: dict[str, Any],
    config: BacktestConfig,
    *,
    with_metrics: bool = True,
    trade_times: bool = True,
) -> BacktestResult:
    """Run one backtest of ``kind`` with validated ``params`` on ``data``. ``trade_times=False`` leaves trades with
    bar indices only (``entry_bar``/``exit_bar``), which is all a sweep needs."""
    events = kind.events(data, params)
    decisions = decide(events, allow_short=config.allow_short)
    result = simulate(data, decisions, config, trade_times=trade_times)
    if with_metrics:
        result.metrics = performance_metrics(
            days=data.days,
            equity=result.equity,
            initial=config.initial_cash,
            trades=result.trades,
            position=result.position,
        )
    return result


@dataclass
class PortfolioBacktestResult:
    """A backtest over several instruments: one sleeve per instrument, combined day by day."""

    days: np.ndarray  # datetime64[D], the union of the sleeves' trading days
    equity: np.ndarray  # combined equity at the end of each day
    position: np.ndarray  # 1 where any sleeve held a position at the end of the day
    sleeves: dict[Any, BacktestResult]
    trades: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    final_value: float = 0.0


def run_portfolio_backtest(
    datas: dict[Any, BarData],
    kind: StrategyKind,
    params: dict[str, Any],
    config: BacktestConfig,
    *,
    with_metrics: bool = True,
) -> PortfolioBacktestResult:
    """Run ``kind`` on several instruments at once. The initial cash is split equally into one sleeve per instrument
    (keys of ``datas``); each sleeve trades its instrument by the single-instrument rules (sizing is relative to the
    sleeve's own equity), and the portfolio's equity on each day is the sum of the sleeves' equities, a sleeve being
    carried at its last value on days its instrument did not trade (and at its initial cash before its first bar).
    Trades carry ``instrument`` (the key) and are numbered by entry time across the portfolio."""
    if not datas:
        raise ValueError("A portfolio backtest needs at least one instrument.")
    sleeve_config = replace(config, initial_cash=config.initial_cash / len(datas))
    sleeves = {key: run_backtest(data, kind, params, sleeve_config, with_metrics=False) for key, data in datas.items()}
    per_day = {}
    for key, data in datas.items():
        days, values = daily_equity(data.days, sleeves[key].equity)
        _, held = daily_equity(data.days, sleeves[key].position)
        per_day[key] = (days, values, held)
    all_days = np.unique(np.concatenate([days for days, _, _ in per_day.values()]))
    equity = np.zeros(len(all_days))
    exposed = np.zeros(len(all_days), dtype=bool)
    for days, values, held in per_day.values():
        at = np.searchsorted(days, all_days, side="right") - 1  # the sleeve's last day on or before each day
        known = at >= 0
        equity += np.where(known, values[np.maximum(at, 0)], sleeve_config.initial_cash)
        exposed |= known & (held[np.maximum(at, 0)] != 0)
    trades: list[dict[str, Any]] = []
    for key, sleeve in sleeves.items():
        trades.extend({**trade, "instrument": key} for trade in sleeve.trades)
    trades.sort(key=lambda t: (t["entry_ts"], str(t["instrument"])))
    for seq, trade in enumerate(trades, start=1):
        trade["seq"] = seq
    result = PortfolioBacktestResult(
        days=all_days,
        equity=equity,
        position=exposed.astype("int8"),
        sleeves=sleeves,
        trades=trades,
        final_value=float(equity[-1]),
    )
    if with_metrics:
        result.metrics = performance_metrics(
            days=all_days, equity=equity, initial=config.initial_cash, trades=trades, position=result.position
        )
        result.metrics["instruments"] = len(datas)
    return result
