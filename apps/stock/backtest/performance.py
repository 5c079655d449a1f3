"""Performance metrics of an equity curve and its trades (NumPy only; called once per backtest and per sweep point).

Daily returns are taken from the last equity of each calendar day (UTC), the initial cash being the value before the
first day. Annualisation uses ``STOCK_PERIODS_PER_YEAR`` (252) periods; CAGR uses calendar time (365.25 days a year).
Sharpe = mean(excess daily return) / std (ddof=1) * sqrt(252); Sortino uses the downside deviation
sqrt(mean(min(excess, 0)^2)); Calmar = CAGR / |max drawdown|. Ratios that are undefined (no variance, no losing
trade, no drawdown) are None.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .. import conf


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def bar_days(ts: pd.Series) -> np.ndarray:
    """The UTC calendar day of each bar, as datetime64[D]."""
    return pd.DatetimeIndex(ts).tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[D]")


def daily_equity(days: np.ndarray, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(days, equity at the last bar of each day) from per-bar ``days`` (see ``bar_days``)."""
    last_of_day = np.r_[days[1:] != days[:-1], True]
    return days[last_of_day], np.asarray(equity, dtype="float64")[last_of_day]


def drawdown(values: np.ndarray) -> np.ndarray:
    peak = np.maximum.accumulate(values)
    return values / peak - 1.0


def performance_metrics(
    *,
    days: np.ndarray,
    equity: np.ndarray,
    initial: float,
    trades: list[dict[str, Any]],
    position: np.ndarray,
    periods_per_year: int | None = None,
    risk_free: float | None = None,
) -> dict[str, Any]:
    ppy = periods_per_year or conf.periods_per_year()
    rf = conf.risk_free_rate() if risk_free is None else risk_free
    days, values = daily_equity(days, equity)
    series = np.concatenate([[float(initial)], values])
    returns = series[1:] / series[:-1] - 1.0
    excess = returns - rf / ppy
    final = float(values[-1])
    total_return = final / initial - 1.0
    years = max((days[-1] - days[0]).astype("int64"), 1) / 365.25
    cagr = (final / initial) ** (1.0 / years) - 1.0 if final > 0 else -1.0
    std = returns.std(ddof=1) if len(returns) > 1 else 0.0
    volatility = std * math.sqrt(ppy)
    sharpe = excess.mean() / std * math.sqrt(ppy) if std > 0 else None
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    sortino = excess.mean() / downside * math.sqrt(ppy) if downside > 0 else None

    dd = drawdown(series)
    trough = int(np.argmin(dd))
    max_dd = float(dd[trough])
    peak = int(np.argmax(series[: trough + 1]))
    recovered = np.flatnonzero(series[trough:] >= series[peak])
    all_days = np.concatenate([[days[0]], days])  # index 0 is "before the first day": the start
    calmar = cagr / abs(max_dd) if max_dd < 0 else None

    closed = [t for t in trades if not t.get("is_open")]
    pnls = np.asarray([t["pnl"] for t in closed], dtype="float64")
    wins, losses = pnls[pnls > 0], pnls[pnls < 0]
    return {
        "initial_cash": _clean(initial),
        "final_equity": _clean(final),
        "total_return": _clean(total_return),
        "cagr": _clean(cagr),
        "volatility": _clean(volatility),
        "sharpe": _clean(sharpe),
        "sortino": _clean(sortino),
        "max_drawdown": _clean(max_dd),
        "max_drawdown_start": str(all_days[peak]) if max_dd < 0 else None,
        "max_drawdown_end": str(all_days[trough]) if max_dd < 0 else None,
        "max_drawdown_recovery": str(all_days[trough + recovered[0]]) if max_dd < 0 and len(recovered) else None,
        "calmar": _clean(calmar),
        "trades": len(closed),
        "open_trades": len(trades) - len(closed),
        "win_rate": _clean(len(wins) / len(closed)) if closed else None,
        "profit_factor": _clean(wins.sum() / -losses.sum()) if len(losses) else None,
        "exposure": _clean(float(np.mean(np.asarray(position) != 0))),
        "days": len(values),
    }
