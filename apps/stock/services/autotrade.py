"""Auto-trading: evaluate a strategy's signal at the close of the latest bar and place at most one paper order.

Each bar is evaluated once (``last_bar_ts`` under a row lock), so repeated or concurrent runs never place a second
order for the same signal. Only bars up to ``now`` are read (no look-ahead); orders go through ``order_place`` with
all its pre-trade checks and fill at the next bar's open, as in the backtester.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import ApplicationError, Forbidden, ValidationFailed
from apps.core.services import audit_record

from ..choices import OrderSide, OrderType, Timeframe
from ..models import AutoTradeOutcome, AutoTrader, Instrument, Portfolio, Position, Strategy
from ..selectors import bars_frame
from ..strategies import BarData, get_kind
from .paper import _dec, order_place

TRADE_PERM = "stock.trade"


def autotrader_create(
    *,
    actor: Any,
    portfolio: Portfolio,
    strategy: Strategy,
    instrument: Instrument,
    quantity: Any,
    timeframe: str = Timeframe.D1,
    enabled: bool = False,
) -> AutoTrader:
    """Attach ``strategy`` to ``portfolio`` (the actor's own). Disabled unless ``enabled``."""
    if portfolio.owner_id != actor.pk:
        raise Forbidden(gettext("Auto-trading is attached only to your own portfolios."))
    get_kind(strategy.kind).validate(strategy.params)
    quantity = _dec(quantity)
    if quantity <= 0:
        raise ValidationFailed(
            gettext("Invalid auto-trader."), details={"quantity": [gettext("Must be greater than 0.")]}
        )
    if AutoTrader.objects.filter(
        portfolio=portfolio, strategy=strategy, instrument=instrument, timeframe=timeframe
    ).exists():
        raise ValidationFailed(
            gettext("This strategy already trades this instrument in this portfolio."), code="duplicate_autotrader"
        )
    trader = AutoTrader(
        owner=portfolio.owner,
        portfolio=portfolio,
        strategy=strategy,
        instrument=instrument,
        timeframe=timeframe,
        quantity=quantity,
        enabled=enabled,
    )
    trader.full_clean()
    with transaction.atomic():
        trader.save()
        audit_record(action=AuditAction.CREATE, actor=actor, target=trader, message="Auto-trader created")
    return trader


def autotrader_set_enabled(*, trader: AutoTrader, enabled: bool, actor: Any) -> AutoTrader:
    with transaction.atomic():
        trader = AutoTrader.objects.select_for_update().get(pk=trader.pk)
        if trader.enabled != enabled:
            trader.enabled = enabled
            trader.save(update_fields=["enabled", "updated_at"])
            audit_record(
                action=AuditAction.UPDATE,
                actor=actor,
                target=trader,
                changes={"enabled": [not enabled, enabled]},
                message="Auto-trader enabled" if enabled else "Auto-trader disabled",
            )
    return trader


def latest_signal(*, trader: AutoTrader, now: dt.datetime) -> tuple[Any, str | None]:
    """(timestamp of the latest bar at or before ``now``, "buy" | "sell" | None for its close)."""
    frame = bars_frame(instrument=trader.instrument, timeframe=trader.timeframe, end=now)
    if frame.empty:
        return None, None
    kind = get_kind(trader.strategy.kind)
    events = kind.events(BarData(frame), kind.validate(trader.strategy.params))
    ts = frame["ts"].iloc[-1].to_pydatetime()
    if bool(events.entry_long[-1]):
        return ts, OrderSide.BUY
    if bool(events.exit_long[-1]):
        return ts, OrderSide.SELL
    return ts, None


def _record(trader: AutoTrader, *, outcome: str, reason: str = "", **fields: Any) -> None:
    trader.last_outcome, trader.last_reason = outcome, reason[:300]
    for name, value in fields.items():
        setattr(trader, name, value)
    trader.save(
        update_fields=["last_outcome", "last_reason", "last_run_at", "updated_at", *fields.keys()],
    )


def autotrade_run(*, trader_id: int, now: dt.datetime | None = None) -> AutoTrader:
    """Evaluate one auto-trader (a no-op when disabled or when its latest bar was already evaluated)."""
    now = now or timezone.now()
    with transaction.atomic():
        trader = (
            AutoTrader.objects.select_for_update(of=("self",))
            .select_related("portfolio__owner", "strategy", "instrument")
            .get(pk=trader_id)
        )
        if not trader.enabled:
            return trader
        trader.last_run_at = now
        ts, side = latest_signal(trader=trader, now=now)
        if ts is None:
            _record(trader, outcome=AutoTradeOutcome.NO_BARS, reason=f"No {trader.timeframe} bars yet.")
            return trader
        if trader.last_bar_ts is not None and ts <= trader.last_bar_ts:
            return trader  # this bar was already evaluated
        if side is None:
            _record(trader, outcome=AutoTradeOutcome.NO_SIGNAL, last_bar_ts=ts)
            return trader
        owner = trader.portfolio.owner
        if not (owner.is_active and owner.has_perm(TRADE_PERM)):
            _record(
                trader,
                outcome=AutoTradeOutcome.FORBIDDEN,
                reason=f"The portfolio owner lacks the {TRADE_PERM} permission; no order placed.",
                last_bar_ts=ts,
                last_signal_at=ts,
            )
            return trader
        quantity = trader.quantity
        if side == OrderSide.SELL:
            held = Position.objects.filter(portfolio=trader.portfolio, instrument=trader.instrument).first()
            if held is None or held.quantity <= 0:
                _record(trader, outcome=AutoTradeOutcome.NO_POSITION, last_bar_ts=ts, last_signal_at=ts)
                return trader
            quantity = held.quantity
        try:
            order = order_place(
                portfolio=trader.portfolio,
                actor=owner,
                instrument=trader.instrument,
                side=side,
                quantity=quantity,
                order_type=OrderType.MARKET,
                timeframe=trader.timeframe,
                now=now,
            )
        except ApplicationError as exc:
            _record(
                trader,
                outcome=AutoTradeOutcome.REJECTED,
                reason=f"{exc.code}: {exc.message}",
                last_bar_ts=ts,
                last_signal_at=ts,
            )
            return trader
        _record(
            trader,
            outcome=AutoTradeOutcome.ORDERED,
            reason=f"{side} {quantity.normalize()} at the next open",
            last_bar_ts=ts,
            last_signal_at=ts,
            last_order=order,
        )
        audit_record(
            action=AuditAction.ACTION,
            actor=None,
            target=trader,
            changes={"order": [None, order.pk]},
            message=f"Auto-trader placed order #{order.pk}",
        )
    return trader


def autotraders_run(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Run every enabled auto-trader once; returns how many ran and how many placed an order."""
    now = now or timezone.now()
    ran = ordered = 0
    for trader_id in AutoTrader.objects.filter(enabled=True).order_by("id").values_list("id", flat=True):
        before = AutoTrader.objects.filter(pk=trader_id).values_list("last_order_id", flat=True).first()
        trader = autotrade_run(trader_id=trader_id, now=now)
        ran += 1
        ordered += int(trader.last_order_id is not None and trader.last_order_id != before)
    return {"ran": ran, "ordered": ordered}
