"""Vectorised technical indicators (NumPy/pandas). Each takes float arrays or Series and returns float64 arrays
aligned with the input, NaN during the warm-up.

Definitions: SMA is the arithmetic mean of the last ``n`` values; EMA uses alpha = 2/(n+1) seeded with the first
value (pandas ``ewm(span=n, adjust=False)``), NaN for the first n-1 values; WMA weights 1..n; RSI and ATR use Wilder's
smoothing (alpha = 1/n) seeded with the simple mean of the first ``n`` changes / true ranges; Bollinger bands use the
population standard deviation; OBV adds the volume on up closes, subtracts it on down closes, starting at 0; rolling
volatility is the sample standard deviation of log returns, annualised with sqrt(periods per year).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from django.utils.translation import gettext

from apps.core.exceptions import ValidationFailed

ArrayLike: TypeAlias = np.ndarray | pd.Series


def _arr(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype="float64")


def _check_period(n: int, name: str = "period") -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValidationFailed(
            gettext("%(name)s must be a positive integer.") % {"name": name},
            details={name: [gettext("Got %(n)s.") % {"n": repr(n)}]},
        )
    return int(n)


def rolling_sum(values: np.ndarray, n: int) -> np.ndarray:
    """Sums of every window of ``n`` values, compensated (Neumaier) so that each sum is the correctly rounded exact
    sum, as ``math.fsum`` would give: ties such as close == SMA are decided the same way by every implementation.
    Vectorised across windows; the loop runs over the window length."""
    m = len(values) - n + 1
    total = values[:m].copy()
    compensation = np.zeros(m)
    for k in range(1, n):
        x = values[k : k + m]
        t = total + x
        compensation += np.where(np.abs(total) >= np.abs(x), (total - t) + x, (x - t) + total)
        total = t
    return total + compensation


def sma(x: ArrayLike, n: int) -> np.ndarray:
    n = _check_period(n)
    values = _arr(x)
    out = np.full(values.shape, np.nan)
    if len(values) >= n:
        out[n - 1 :] = rolling_sum(values, n) / n
    return out


def ema(x: ArrayLike, n: int) -> np.ndarray:
    n = _check_period(n)
    return pd.Series(_arr(x)).ewm(span=n, min_periods=n, adjust=False).mean().to_numpy()


def wma(x: ArrayLike, n: int) -> np.ndarray:
    n = _check_period(n)
    values = _arr(x)
    out = np.full(values.shape, np.nan)
    if len(values) >= n:
        weights = np.arange(1, n + 1, dtype="float64")
        windows = np.lib.stride_tricks.sliding_window_view(values, n)
        out[n - 1 :] = windows @ weights / weights.sum()
    return out


def wilder(x: ArrayLike, n: int) -> np.ndarray:
    """Wilder's smoothing: the first value (at index n-1) is the mean of x[0:n], then y = y_prev + (x - y_prev)/n."""
    n = _check_period(n)
    values = _arr(x)
    out = np.full(values.shape, np.nan)
    if len(values) < n:
        return out
    seeded = values.copy()
    seeded[: n - 1] = np.nan
    seeded[n - 1] = values[:n].mean()
    out[n - 1 :] = pd.Series(seeded[n - 1 :]).ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()
    return out


def rsi(close: ArrayLike, n: int = 14) -> np.ndarray:
    n = _check_period(n)
    c = _arr(close)
    out = np.full(c.shape, np.nan)
    if len(c) <= n:
        return out
    change = np.diff(c)
    avg_gain = wilder(np.clip(change, 0, None), n)
    avg_loss = wilder(np.clip(-change, 0, None), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(avg_loss == 0, 100.0, 100.0 - 100.0 / (1.0 + avg_gain / avg_loss))
    value[np.isnan(avg_gain)] = np.nan
    out[1:] = value
    return out


def macd(close: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> dict[str, np.ndarray]:
    line = ema(close, fast) - ema(close, slow)
    sig = pd.Series(line).ewm(span=_check_period(signal, "signal"), min_periods=signal, adjust=False).mean()
    return {"macd": line, "signal": sig.to_numpy(), "histogram": line - sig.to_numpy()}


def bollinger(close: ArrayLike, n: int = 20, k: float = 2.0) -> dict[str, np.ndarray]:
    n = _check_period(n)
    series = pd.Series(_arr(close))
    middle = sma(series, n)
    std = series.rolling(n, min_periods=n).std(ddof=0).to_numpy()
    return {"middle": middle, "upper": middle + k * std, "lower": middle - k * std}


def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> np.ndarray:
    h, lo, c = _arr(high), _arr(low), _arr(close)
    prev = np.concatenate([[np.nan], c[:-1]])
    ranges = np.vstack([h - lo, np.abs(h - prev), np.abs(lo - prev)])
    return np.nanmax(ranges, axis=0)


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> np.ndarray:
    return wilder(true_range(high, low, close), n)


def stochastic(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14, smooth: int = 3
) -> dict[str, np.ndarray]:
    n = _check_period(n)
    hh = pd.Series(_arr(high)).rolling(n, min_periods=n).max().to_numpy()
    ll = pd.Series(_arr(low)).rolling(n, min_periods=n).min().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 100.0 * (_arr(close) - ll) / (hh - ll)
    return {"k": k, "d": sma(k, smooth)}


def obv(close: ArrayLike, volume: ArrayLike) -> np.ndarray:
    c, v = _arr(close), _arr(volume)
    direction = np.sign(np.diff(c, prepend=c[:1]))
    return np.cumsum(direction * v)


def rolling_volatility(close: ArrayLike, n: int = 20, periods_per_year: int = 252) -> np.ndarray:
    n = _check_period(n)
    returns = np.diff(np.log(_arr(close)), prepend=np.nan)
    return pd.Series(returns).rolling(n, min_periods=n).std(ddof=1).to_numpy() * np.sqrt(periods_per_year)


def ffill(values: np.ndarray) -> np.ndarray:
    """Carry the last non-NaN value forward (NaN before the first one)."""
    valid = ~np.isnan(values)
    idx = np.where(valid, np.arange(len(values)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = values[idx]
    out[: np.argmax(valid) if valid.any() else len(values)] = np.nan
    return out


def crossover(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """+1 where ``a`` crosses above ``b``, -1 where it crosses below, 0 elsewhere. A crossing compares with the last
    non-zero difference, so touching (a == b) and moving on is not a cross."""
    diff = _arr(a) - _arr(b)
    nonzero = ffill(np.where(diff == 0, np.nan, diff))
    prev = np.concatenate([[np.nan], nonzero[:-1]])
    out = np.zeros(diff.shape, dtype="int8")
    out[(prev < 0) & (diff > 0)] = 1
    out[(prev > 0) & (diff < 0)] = -1
    return out


# --- Registry used by the API ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorSpec:
    compute: Callable[..., Any]
    params: dict[str, Any] = field(default_factory=dict)  # name -> default
    inputs: tuple[str, ...] = ("close",)


INDICATORS: dict[str, IndicatorSpec] = {
    "sma": IndicatorSpec(sma, {"period": 20}),
    "ema": IndicatorSpec(ema, {"period": 20}),
    "wma": IndicatorSpec(wma, {"period": 20}),
    "rsi": IndicatorSpec(rsi, {"period": 14}),
    "macd": IndicatorSpec(macd, {"fast": 12, "slow": 26, "signal": 9}),
    "bollinger": IndicatorSpec(bollinger, {"period": 20, "k": 2.0}),
    "atr": IndicatorSpec(atr, {"period": 14}, ("high", "low", "close")),
    "stochastic": IndicatorSpec(stochastic, {"period": 14, "smooth": 3}, ("high", "low", "close")),
    "obv": IndicatorSpec(obv, {}, ("close", "volume")),
    "volatility": IndicatorSpec(rolling_volatility, {"period": 20}),
}


def indicator_compute(frame: pd.DataFrame, name: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Compute indicator ``name`` on a bar frame; returns output name -> array. Unknown names/params are a 400."""
    spec = INDICATORS.get(name)
    if spec is None:
        raise ValidationFailed(
            gettext("Unknown indicator %(name)s.") % {"name": repr(name)},
            code="unknown_indicator",
            details={"name": sorted(INDICATORS)},
        )
    values: dict[str, Any] = {}
    for key, default in spec.params.items():
        raw = params.get(key, default)
        try:
            values[key] = type(default)(raw)
        except (TypeError, ValueError):
            raise ValidationFailed(
                gettext("Invalid %(key)s.") % {"key": key},
                details={key: [gettext("Expected a number, got %(raw)s.") % {"raw": repr(raw)}]},
            ) from None
        if isinstance(default, int) and not 1 <= values[key] <= 1000:
            raise ValidationFailed(
                gettext("%(key)s must be between 1 and 1000.") % {"key": key}, details={key: [gettext("Out of range.")]}
            )
    args = [frame[column].to_numpy(dtype="float64") for column in spec.inputs]
    positional = list(values.values())
    result = spec.compute(*args, *positional)
    return result if isinstance(result, dict) else {name: result}
