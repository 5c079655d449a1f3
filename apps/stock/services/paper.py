"""Paper trading: portfolios, order placement with pre-trade risk checks, cancellation, and matching against bars.

Cash safety: placing a buy locks the portfolio row (SELECT ... FOR UPDATE) and moves the order's worst-case cost into
``reserved_cash``; every check reads ``cash - reserved_cash`` under that lock, so two concurrent orders can never
spend the same cash. Fills and cancellations release the reservation under the same lock.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.services import audit_record, object_share

from .. import conf
from ..choices import INTRADAY, OPEN_ORDER_STATUSES, OrderSide, OrderStatus, OrderType, Timeframe, TimeInForce
from ..markets import market_is_open
from ..models import Fill, Instrument, Order, Portfolio, Position, PriceBar
from ..selectors import latest_bar, portfolio_valuation

CENT = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _commission(value: Decimal) -> Decimal:
    return _money(abs(value) * conf.paper_commission_pct() / Decimal(100))


def _tick(price: float | Decimal, instrument: Instrument) -> Decimal:
    tick = instrument.tick_size
    return (_dec(price) / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick


# --- Portfolios -----------------------------------------------------------------------------------------------------


def portfolio_create(
    *,
    owner: Any,
    name: str,
    cash: Any = Decimal("100000"),
    base_currency: str = "USD",
    allow_margin: bool = False,
    max_position_pct: Any = Decimal("100"),
    max_order_value: Any = None,
) -> Portfolio:
    cash = _dec(cash)
    if cash < 0:
        raise ValidationFailed(
            gettext("Cash cannot be negative."), details={"cash": [gettext("Must be zero or more.")]}
        )
    portfolio = Portfolio(
        owner=owner,
        name=name,
        cash=_money(cash),
        base_currency=base_currency.upper(),
        allow_margin=allow_margin,
        max_position_pct=_dec(max_position_pct),
        max_order_value=_money(_dec(max_order_value)) if max_order_value is not None else None,
    )
    portfolio.full_clean()
    with transaction.atomic():
        portfolio.save()
        audit_record(action=AuditAction.CREATE, actor=owner, target=portfolio, changes={"cash": [None, str(cash)]})
    return portfolio


def portfolio_share(*, portfolio: Portfolio, to: Any, actor: Any, level: str = "view") -> None:
    object_share(obj=portfolio, to=to, level=level, actor=actor)


# --- Orders ---------------------------------------------------------------------------------------------------------


def _open_sell_quantity(portfolio: Portfolio, instrument: Instrument) -> Decimal:
    rows = Order.objects.filter(
        portfolio=portfolio, instrument=instrument, side=OrderSide.SELL, status__in=OPEN_ORDER_STATUSES
    ).values_list("quantity", "filled_quantity")
    return sum((q - f for q, f in rows), Decimal(0))


def order_place(
    *,
    portfolio: Portfolio,
    actor: Any,
    instrument: Instrument,
    side: str,
    quantity: Any,
    order_type: str = OrderType.MARKET,
    limit_price: Any = None,
    stop_price: Any = None,
    time_in_force: str = TimeInForce.GTC,
    timeframe: str = Timeframe.D1,
    now: dt.datetime | None = None,
) -> Order:
    """Run the pre-trade checks and place the order; a failed check is a 400 and writes nothing."""
    quantity = _dec(quantity)
    errors: dict[str, list[str]] = {}
    if side not in OrderSide.values:
        errors["side"] = [f"Must be one of {OrderSide.values}."]
    if order_type not in OrderType.values:
        errors["order_type"] = [f"Must be one of {OrderType.values}."]
    if time_in_force not in TimeInForce.values:
        errors["time_in_force"] = [f"Must be one of {TimeInForce.values}."]
    if timeframe not in Timeframe.values:
        errors["timeframe"] = [f"Must be one of {Timeframe.values}."]
    if quantity <= 0:
        errors["quantity"] = ["Must be greater than 0."]
    elif quantity % instrument.lot_size != 0:
        errors["quantity"] = [f"Must be a multiple of the lot size {instrument.lot_size.normalize()}."]
    if order_type == OrderType.LIMIT and (limit_price is None or _dec(limit_price) <= 0):
        errors["limit_price"] = ["A limit order needs a positive limit price."]
    if order_type == OrderType.STOP and (stop_price is None or _dec(stop_price) <= 0):
        errors["stop_price"] = ["A stop order needs a positive stop price."]
    if errors:
        raise ValidationFailed(gettext("Invalid order."), details=errors)
    if not instrument.is_active:
        raise ValidationFailed(
            gettext("%(symbol)s is not active.") % {"symbol": instrument.symbol}, code="inactive_instrument"
        )
    now = now or timezone.now()
    if timeframe in INTRADAY and not market_is_open(
        exchange=instrument.exchange, asset_class=instrument.asset_class, now=now
    ):
        raise ValidationFailed(
            gettext("The %(exchange)s market is closed for intraday orders.") % {"exchange": instrument.exchange},
            code="market_closed",
            details={"exchange": instrument.exchange, "now": now.isoformat()},
        )
    bar = latest_bar(instrument=instrument, timeframe=timeframe)
    if bar is None:
        raise ValidationFailed(
            gettext("No %(timeframe)s bars for %(symbol)s.") % {"timeframe": timeframe, "symbol": instrument.symbol},
            code="no_bars",
        )
    last = _dec(bar.close)
    buffer = Decimal(1) + conf.paper_market_buffer_pct() / Decimal(100)
    limit = _dec(limit_price) if limit_price is not None else None
    stop = _dec(stop_price) if stop_price is not None else None
    if order_type == OrderType.LIMIT:
        reference = limit
    elif order_type == OrderType.STOP and stop is not None:  # validated above: a stop order has its stop price
        reference = max(stop, last) * buffer if side == OrderSide.BUY else stop
    else:
        reference = last * buffer if side == OrderSide.BUY else last
    assert reference is not None
    value = _money(quantity * reference)

    with transaction.atomic():
        locked = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
        if locked.max_order_value is not None and value > locked.max_order_value:
            raise ValidationFailed(
                gettext("Order value %(value)s exceeds the limit %(max_order_value)s.")
                % {"value": value, "max_order_value": locked.max_order_value},
                code="order_value_limit",
            )
        reserved = Decimal("0.00")
        if side == OrderSide.BUY:
            reserved = value + _commission(value)
            if not locked.allow_margin and reserved > locked.available_cash:
                raise ValidationFailed(
                    gettext("Not enough cash."),
                    code="insufficient_cash",
                    details={"required": str(reserved), "available": str(locked.available_cash)},
                )
            equity = portfolio_valuation(portfolio=locked)["equity"]
            held = Position.objects.filter(portfolio=locked, instrument=instrument).values_list("quantity", flat=True)
            after = (sum(held, Decimal(0)) + quantity) * last
            limit_value = equity * locked.max_position_pct / Decimal(100)
            if after > limit_value:
                raise ValidationFailed(
                    gettext("The position would be %(after)s, over %(max_position_pct)s%% of equity (%(limit_value)s).")
                    % {
                        "after": format(after, ".2f"),
                        "max_position_pct": locked.max_position_pct,
                        "limit_value": format(limit_value, ".2f"),
                    },
                    code="position_limit",
                )
        else:
            held = Position.objects.filter(portfolio=locked, instrument=instrument).values_list("quantity", flat=True)
            free = sum(held, Decimal(0)) - _open_sell_quantity(locked, instrument)
            if quantity > free:
                raise ValidationFailed(
                    gettext("Cannot sell more than the free position (no short selling)."),
                    code="insufficient_position",
                    details={"available": str(free)},
                )
        order = Order(
            portfolio=locked,
            instrument=instrument,
            timeframe=timeframe,
            side=side,
            order_type=order_type,
            quantity=quantity,
            limit_price=limit,
            stop_price=stop,
            time_in_force=time_in_force,
            reserved_cash=reserved,
            after_ts=bar.ts,
            placed_by=actor,
        )
        order.full_clean()
        order.save()
        if reserved:
            locked.reserved_cash += reserved
            locked.save(update_fields=["reserved_cash", "updated_at"])
        audit_record(action=AuditAction.CREATE, actor=actor, target=order, message="Paper order placed")
    return order


def _close_order(order: Order, portfolio: Portfolio, status: str, reason: str) -> None:
    portfolio.reserved_cash -= order.reserved_cash
    order.reserved_cash = Decimal("0.00")
    order.status, order.reason = status, reason[:300]
    order.save(update_fields=["status", "reason", "reserved_cash", "updated_at"])
    portfolio.save(update_fields=["reserved_cash", "updated_at"])


def order_cancel(*, order: Order, actor: Any, reason: str = "Cancelled by the user.") -> Order:
    with transaction.atomic():
        portfolio = Portfolio.objects.select_for_update().get(pk=order.portfolio_id)
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status not in OPEN_ORDER_STATUSES:
            raise Conflict(
                gettext("Order is %(status)s; only open orders can be cancelled.") % {"status": order.status},
                code="order_not_open",
            )
        _close_order(order, portfolio, OrderStatus.CANCELLED, reason)
        audit_record(action=AuditAction.ACTION, actor=actor, target=order, message="Paper order cancelled")
    return order


# --- Matching -------------------------------------------------------------------------------------------------------


def fill_price(order: Order, bar: PriceBar) -> float | None:
    """The price an order fills at on ``bar``, or None. Market: the open. Limit buy: low <= limit, at min(open, limit);
    limit sell: high >= limit, at max(open, limit). Stop buy: high >= stop, at max(open, stop); stop sell:
    low <= stop, at min(open, stop) (a gap through the level fills at the open)."""
    buy = order.side == OrderSide.BUY
    if order.order_type == OrderType.MARKET:
        return bar.open
    if order.order_type == OrderType.LIMIT:
        if order.limit_price is None:  # never stored (order_place validates it): nothing to fill at
            return None
        level = float(order.limit_price)
        if buy:
            return min(bar.open, level) if bar.low <= level else None
        return max(bar.open, level) if bar.high >= level else None
    if order.stop_price is None:  # never stored (order_place validates it): nothing to fill at
        return None
    level = float(order.stop_price)
    if buy:
        return max(bar.open, level) if bar.high >= level else None
    return min(bar.open, level) if bar.low <= level else None


def _apply_fill(order: Order, portfolio: Portfolio, bar: PriceBar, price: Decimal, qty: Decimal) -> Fill | None:
    value = _money(qty * price)
    commission = _commission(value)
    remaining = order.remaining
    release = order.reserved_cash if qty == remaining else _money(order.reserved_cash * qty / remaining)
    position, _ = Position.objects.select_for_update().get_or_create(portfolio=portfolio, instrument=order.instrument)
    if order.side == OrderSide.BUY:
        available = portfolio.cash - (portfolio.reserved_cash - release)
        if not portfolio.allow_margin and value + commission > available:
            _close_order(order, portfolio, OrderStatus.REJECTED, "Not enough cash at the fill price.")
            return None
        portfolio.cash -= value + commission
        total = position.quantity + qty
        position.avg_cost = ((position.quantity * position.avg_cost + qty * price) / total).quantize(Decimal("1e-8"))
        position.quantity = total
        position.realized_pnl -= commission
    else:
        if qty > position.quantity:
            _close_order(order, portfolio, OrderStatus.REJECTED, "The position is smaller than the order.")
            return None
        portfolio.cash += value - commission
        position.realized_pnl += _money(qty * (price - position.avg_cost)) - commission
        position.quantity -= qty
        if position.quantity == 0:
            position.avg_cost = Decimal(0)
    portfolio.reserved_cash -= release
    order.reserved_cash -= release
    previous = order.filled_quantity
    order.filled_quantity += qty
    order.avg_fill_price = (((order.avg_fill_price or 0) * previous + price * qty) / order.filled_quantity).quantize(
        Decimal("1e-8")
    )
    order.status = OrderStatus.FILLED if order.filled_quantity == order.quantity else OrderStatus.PARTIALLY_FILLED
    order.after_ts = bar.ts
    order.save()
    position.save()
    portfolio.save(update_fields=["cash", "reserved_cash", "updated_at"])
    fill = Fill.objects.create(
        order=order,
        portfolio=portfolio,
        instrument=order.instrument,
        side=order.side,
        bar_ts=bar.ts,
        quantity=qty,
        price=price,
        commission=commission,
    )
    audit_record(action=AuditAction.ACTION, target=order, message=f"Filled {qty.normalize()} @ {price.normalize()}")
    return fill


def order_match(*, order_id: int) -> Order:
    """Fill one open order against the bars that arrived after it (or after its last fill)."""
    with transaction.atomic():
        order = Order.objects.select_related("instrument").get(pk=order_id)
        portfolio = Portfolio.objects.select_for_update().get(pk=order.portfolio_id)
        order = Order.objects.select_for_update().select_related("instrument").get(pk=order_id)
        if order.status not in OPEN_ORDER_STATUSES:
            return order
        if not order.instrument.is_active:
            _close_order(order, portfolio, OrderStatus.REJECTED, "The instrument is no longer active.")
            return order
        bars = PriceBar.objects.filter(
            instrument=order.instrument, timeframe=order.timeframe, ts__gt=order.after_ts
        ).order_by("ts")
        participation = conf.paper_volume_participation()
        lot = order.instrument.lot_size
        for bar in bars.iterator():
            price = fill_price(order, bar)
            if price is not None:
                qty = order.remaining
                if bar.volume > 0:
                    cap = (Decimal(bar.volume) * participation / lot).to_integral_value(rounding=ROUND_DOWN) * lot
                    qty = min(qty, cap)
                if qty > 0 and _apply_fill(order, portfolio, bar, _tick(price, order.instrument), qty) is None:
                    return order
            if order.status not in OPEN_ORDER_STATUSES:
                break
            if order.time_in_force == TimeInForce.DAY:
                _close_order(order, portfolio, OrderStatus.CANCELLED, "Day order expired.")
                break
    return order


def orders_match(*, instrument_ids: list[int] | None = None) -> dict[str, int]:
    """Match every open order (of the given instruments); returns counts by resulting status."""
    qs = Order.objects.filter(status__in=OPEN_ORDER_STATUSES).order_by("created_at", "id")
    if instrument_ids:
        qs = qs.filter(instrument_id__in=instrument_ids)
    counts: dict[str, int] = {}
    for order_id in list(qs.values_list("id", flat=True)):
        status = order_match(order_id=order_id).status
        counts[status] = counts.get(status, 0) + 1
    return counts


def open_orders_exist(*, instrument_ids: list[int]) -> bool:
    return Order.objects.filter(status__in=OPEN_ORDER_STATUSES, instrument_id__in=instrument_ids).exists()


def portfolio_reserved_total(*, portfolio: Portfolio) -> Decimal:
    """Sum of the reservations of open orders (equals ``portfolio.reserved_cash``; used by tests and the admin)."""
    total = Order.objects.filter(portfolio=portfolio, status__in=OPEN_ORDER_STATUSES).aggregate(s=Sum("reserved_cash"))
    return total["s"] or Decimal("0.00")
