"""Backtest configuration: commission models, slippage, sizing. Validated into a frozen dataclass."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext

from apps.core.exceptions import ValidationFailed

# Commission models, registered by name: a factory taking the validated options and returning
# (quantity, price) -> commission, plus the options' defaults.
CommissionFn = Callable[[float, float], float]
COMMISSION_MODELS: dict[str, tuple[Callable[[dict[str, float]], CommissionFn], dict[str, float]]] = {}


def commission_model(
    name: str, **defaults: float
) -> Callable[[Callable[..., CommissionFn]], Callable[..., CommissionFn]]:
    def wrap(factory: Callable[..., CommissionFn]) -> Callable[..., CommissionFn]:
        COMMISSION_MODELS[name] = (factory, defaults)
        return factory

    return wrap


@commission_model("none")
def _no_commission(o: dict[str, float]) -> CommissionFn:
    return lambda qty, price: 0.0


@commission_model("percent", rate=0.001)
def _percent(o: dict[str, float]) -> CommissionFn:
    """``rate`` is a fraction of traded value: 0.001 = 0.1 %."""
    rate = o["rate"]
    return lambda qty, price: abs(qty) * price * rate


@commission_model("per_share", per_share=0.005, minimum=1.0)
def _per_share(o: dict[str, float]) -> CommissionFn:
    per_share, minimum = o["per_share"], o["minimum"]
    return lambda qty, price: max(abs(qty) * per_share, minimum)


@commission_model("fixed", amount=1.0)
def _fixed(o: dict[str, float]) -> CommissionFn:
    amount = o["amount"]
    return lambda qty, price: amount


SIZING_DEFAULTS: dict[str, dict[str, float]] = {
    "fixed": {"quantity": 100.0},
    "percent": {"percent": 10.0},
    "all_in": {},
}


@dataclass(frozen=True)
class BacktestConfig:
    initial_cash: float = 100_000.0
    commission: dict[str, Any] = field(default_factory=lambda: {"model": "none"})
    slippage_bps: float = 0.0
    sizing: dict[str, Any] = field(default_factory=lambda: {"model": "fixed", "quantity": 100.0})
    allow_short: bool = False
    fill_on_close: bool = False

    def commission_fn(self) -> CommissionFn:
        factory, _ = COMMISSION_MODELS[self.commission["model"]]
        return factory({k: v for k, v in self.commission.items() if k != "model"})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(
    value: Any, name: str, errors: dict[str, list[str]], *, minimum: float = 0.0, strict: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors[name] = ["Must be a number."]
        return 0.0
    try:
        number = float(value)
    except ValueError:
        errors[name] = ["Must be a number."]
        return 0.0
    if not math.isfinite(number) or number < minimum or (strict and number <= minimum):
        errors[name] = [f"Must be {'greater than' if strict else 'at least'} {minimum}."]
    return number


def _model_options(
    raw: Any, name: str, models: dict[str, dict[str, float]], errors: dict[str, list[str]]
) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors[name] = ["Must be an object with a 'model'."]
        return {}
    model = raw.get("model")
    if model not in models:
        errors[f"{name}.model"] = [f"Must be one of {sorted(models)}."]
        return {}
    out: dict[str, Any] = {"model": model}
    for key, default in models[model].items():
        out[key] = _number(raw.get(key, default), f"{name}.{key}", errors)
    extra = sorted(set(raw) - {"model", *models[model]})
    if extra:
        errors[name] = [f"Unknown options {extra}."]
    return out


def config_from_input(data: dict[str, Any]) -> BacktestConfig:
    """Validate user input into a BacktestConfig; a 400 with every problem otherwise."""
    errors: dict[str, list[str]] = {}
    cash = _number(data.get("initial_cash", 100_000), "initial_cash", errors, minimum=0.0, strict=True)
    slippage = _number(data.get("slippage_bps", 0), "slippage_bps", errors)
    if slippage > 1000:
        errors["slippage_bps"] = ["At most 1000 bps."]
    commissions = {name: defaults for name, (_, defaults) in COMMISSION_MODELS.items()}
    commission = _model_options(data.get("commission") or {"model": "none"}, "commission", commissions, errors)
    sizing = _model_options(data.get("sizing") or {"model": "fixed"}, "sizing", SIZING_DEFAULTS, errors)
    if sizing.get("model") == "fixed" and sizing.get("quantity", 1) <= 0:
        errors["sizing.quantity"] = ["Must be greater than 0."]
    if sizing.get("model") == "percent" and not 0 < sizing.get("percent", 1) <= 100:
        errors["sizing.percent"] = ["Must be in (0, 100]."]
    flags = {}
    for flag in ("allow_short", "fill_on_close"):
        value = data.get(flag, False)
        if not isinstance(value, bool):
            errors[flag] = ["Must be true or false."]
        flags[flag] = bool(value)
    if errors:
        raise ValidationFailed(gettext("Invalid backtest settings."), code="invalid_settings", details=errors)
    return BacktestConfig(initial_cash=cash, commission=commission, slippage_bps=slippage, sizing=sizing, **flags)
