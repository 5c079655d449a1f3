"""Strategy kinds. Each kind declares its parameter schema and turns bars into entry/exit events; kinds register
themselves with ``@register`` and callers look them up by name (no branching on kind names anywhere).

Events are boolean arrays computed from data up to and including bar t only (signals at the close of bar t):
``entry_long``, ``exit_long``, ``entry_short``, ``exit_short``. The backtester turns them into positions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from django.utils.translation import gettext

from apps.core.exceptions import ValidationFailed

from . import indicators as ind


@dataclass(frozen=True)
class Param:
    name: str
    kind: type  # int or float
    default: float
    minimum: float
    maximum: float
    help: str = ""

    def as_schema(self) -> dict[str, Any]:
        return {
            "type": "integer" if self.kind is int else "number",
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "description": self.help,
        }


@dataclass
class Events:
    entry_long: np.ndarray
    exit_long: np.ndarray
    entry_short: np.ndarray
    exit_short: np.ndarray


class BarData:
    """Bar arrays plus a memo of indicator results, shared by every parameter set of a sweep."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.ts = frame["ts"]
        self.open = frame["open"].to_numpy(dtype="float64")
        self.high = frame["high"].to_numpy(dtype="float64")
        self.low = frame["low"].to_numpy(dtype="float64")
        self.close = frame["close"].to_numpy(dtype="float64")
        self.volume = frame["volume"].to_numpy(dtype="float64")
        self.stamps = pd.DatetimeIndex(frame["ts"])  # aware UTC
        self.days = self.stamps.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[D]")
        self._memo: dict[tuple[Any, ...], Any] = {}

    def __len__(self) -> int:
        return len(self.close)

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def sma(self, n: int) -> np.ndarray:
        return self.memo(("sma", n), lambda: ind.sma(self.close, n))

    def ema(self, n: int) -> np.ndarray:
        return self.memo(("ema", n), lambda: ind.ema(self.close, n))


class StrategyKind:
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def check(self, values: dict[str, Any]) -> dict[str, list[str]]:
        """Cross-field rules; returns field -> messages."""
        return {}

    def events(self, data: BarData, p: dict[str, Any]) -> Events:  # pragma: no cover - interface
        raise NotImplementedError

    def validate(self, raw: Any) -> dict[str, Any]:
        """Typed, bounded parameters (defaults filled in); a 400 listing every problem otherwise."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValidationFailed(
                gettext("Parameters must be an object."), details={"params": [gettext("Must be an object.")]}
            )
        errors: dict[str, list[str]] = {}
        known = {p.name for p in self.params}
        for extra in sorted(set(raw) - known):
            errors[extra] = [f"Unknown parameter for {self.name}."]
        values: dict[str, Any] = {}
        for param in self.params:
            value = raw.get(param.name, param.default)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                errors[param.name] = ["Must be a number."]
                continue
            if param.kind is int and float(value) != int(value):
                errors[param.name] = ["Must be an integer."]
                continue
            value = param.kind(value)
            if not param.minimum <= value <= param.maximum:
                errors[param.name] = [f"Must be between {param.minimum} and {param.maximum}."]
                continue
            values[param.name] = value
        if not errors:
            errors = self.check(values)
        if errors:
            raise ValidationFailed(
                gettext("Invalid parameters for %(name)s.") % {"name": self.name},
                code="invalid_params",
                details={"params": errors},
            )
        return values

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {p.name: p.as_schema() for p in cls.params},
            "additionalProperties": False,
        }


STRATEGY_KINDS: dict[str, StrategyKind] = {}


def register(cls: type[StrategyKind]) -> type[StrategyKind]:
    if not cls.name or cls.name in STRATEGY_KINDS:
        raise ValueError(f"Strategy kind needs a unique name, got {cls.name!r}.")
    STRATEGY_KINDS[cls.name] = cls()
    return cls


def get_kind(name: str) -> StrategyKind:
    try:
        return STRATEGY_KINDS[name]
    except KeyError:
        raise ValidationFailed(
            gettext("Unknown strategy kind %(name)s.") % {"name": repr(name)},
            code="unknown_kind",
            details={"kind": sorted(STRATEGY_KINDS)},
        ) from None


def _cross_events(cross: np.ndarray) -> Events:
    up, down = cross > 0, cross < 0
    return Events(entry_long=up, exit_long=down, entry_short=down, exit_short=up)


def _fast_below_slow(values: dict[str, Any]) -> dict[str, list[str]]:
    if values["slow"] <= values["fast"]:
        return {"slow": ["Must be greater than fast."]}
    return {}


@register
class SmaCross(StrategyKind):
    name = "sma_cross"
    label = "SMA crossover: long when the fast SMA crosses above the slow one, out (or short) on the cross below"
    params = (
        Param("fast", int, 10, 1, 500, "Fast SMA period"),
        Param("slow", int, 30, 2, 1000, "Slow SMA period"),
    )

    def check(self, values: dict[str, Any]) -> dict[str, list[str]]:
        return _fast_below_slow(values)

    def events(self, data: BarData, p: dict[str, Any]) -> Events:
        return _cross_events(ind.crossover(data.sma(p["fast"]), data.sma(p["slow"])))


@register
class EmaCross(SmaCross):
    name = "ema_cross"
    label = "EMA crossover"
    params = (
        Param("fast", int, 12, 1, 500, "Fast EMA period"),
        Param("slow", int, 26, 2, 1000, "Slow EMA period"),
    )

    def events(self, data: BarData, p: dict[str, Any]) -> Events:
        return _cross_events(ind.crossover(data.ema(p["fast"]), data.ema(p["slow"])))


@register
class RsiReversion(StrategyKind):
    name = "rsi_reversion"
    label = "RSI mean reversion: long below `lower`, out above `upper` (short above `upper`)"
    params = (
        Param("period", int, 14, 2, 500, "RSI period"),
        Param("lower", float, 30.0, 0.0, 100.0, "Oversold level"),
        Param("upper", float, 70.0, 0.0, 100.0, "Overbought level"),
    )

    def check(self, values: dict[str, Any]) -> dict[str, list[str]]:
        if values["lower"] >= values["upper"]:
            return {"upper": ["Must be greater than lower."]}
        return {}

    def events(self, data: BarData, p: dict[str, Any]) -> Events:
        value = data.memo(("rsi", p["period"]), lambda: ind.rsi(data.close, p["period"]))
        low, high = value < p["lower"], value > p["upper"]
        return Events(entry_long=low, exit_long=high, entry_short=high, exit_short=low)


@register
class MacdSignal(StrategyKind):
    name = "macd_signal"
    label = "MACD line crossing its signal line"
    params = (
        Param("fast", int, 12, 1, 500, "Fast EMA"),
        Param("slow", int, 26, 2, 1000, "Slow EMA"),
        Param("signal", int, 9, 1, 500, "Signal EMA"),
    )

    def check(self, values: dict[str, Any]) -> dict[str, list[str]]:
        return _fast_below_slow(values)

    def events(self, data: BarData, p: dict[str, Any]) -> Events:
        m = data.memo(("macd", p["fast"], p["slow"], p["signal"]), lambda: ind.macd(data.close, **p))
        return _cross_events(ind.crossover(m["macd"], m["signal"]))


@register
class BollingerReversion(StrategyKind):
    name = "bollinger_reversion"
    label = "Bollinger mean reversion: long below the lower band, out at the middle (short above the upper band)"
    params = (
        Param("period", int, 20, 2, 500, "Band period"),
        Param("k", float, 2.0, 0.1, 10.0, "Width in standard deviations"),
    )

    def events(self, data: BarData, p: dict[str, Any]) -> Events:
        b = data.memo(("bollinger", p["period"], p["k"]), lambda: ind.bollinger(data.close, p["period"], p["k"]))
        c = data.close
        return Events(
            entry_long=c < b["lower"],
            exit_long=c >= b["middle"],
            entry_short=c > b["upper"],
            exit_short=c <= b["middle"],
        )


@register
class BuyAndHold(StrategyKind):
    name = "buy_and_hold"
    label = "Buy at the first bar and hold"
    params = ()

    def events(self, data: BarData, p: dict[str, Any]) -> Events:
        entry = np.zeros(len(data), dtype=bool)
        entry[0] = True
        never = np.zeros(len(data), dtype=bool)
        return Events(entry_long=entry, exit_long=never, entry_short=never, exit_short=never)


@register
class CloseVsSma(StrategyKind):
    name = "close_vs_sma"
    label = "When flat and close > SMA(n): buy; when long and close < SMA(n): sell"
    params = (Param("period", int, 15, 1, 1000, "SMA period"),)

    def events(self, data: BarData, p: dict[str, Any]) -> Events:
        average = data.sma(p["period"])
        above, below = data.close > average, data.close < average
        return Events(entry_long=above, exit_long=below, entry_short=below, exit_short=above)
