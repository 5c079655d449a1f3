"""Auto-trading: one order per new signal, idempotent per bar, off by default, and only for owners who may trade."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from apps.core.models import AuditLog
from apps.core.roles import GUEST, USER
from apps.stock.models import AutoTrader, Order
from apps.stock.services import autotrade, paper
from apps.stock.tasks import run_autotraders
from tests.core.factories import UserFactory

from .factories import InstrumentFactory, PriceBarFactory, StrategyFactory

T0 = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def bar(instrument, n: int, close: float):
    return PriceBarFactory(
        instrument=instrument, ts=day(n), open=close, high=close + 1, low=close - 1, close=close, volume=0
    )


@pytest.fixture
def trader(db):
    user = UserFactory(role=USER)
    instrument = InstrumentFactory(symbol="ACME")
    for n in range(3):
        bar(instrument, n, 10)
    portfolio = paper.portfolio_create(owner=user, name="auto", cash=Decimal("10000"))
    strategy = StrategyFactory(owner=user, kind="close_vs_sma", params={"period": 3})
    return autotrade.autotrader_create(
        actor=user, portfolio=portfolio, strategy=strategy, instrument=instrument, quantity=5, enabled=True
    )


def test_signal_places_one_order_and_the_same_bar_never_again(trader) -> None:
    bar(trader.instrument, 3, 12)  # close 12 > SMA(3) = 10.67 at this bar's close: buy
    assert run_autotraders.delay().get() == {"ran": 1, "ordered": 1}
    trader.refresh_from_db()
    order = Order.objects.get()
    assert (order.side, order.quantity, order.order_type, order.status) == ("buy", 5, "market", "new")
    assert order.after_ts == day(3)  # fills at the open of the next bar
    assert (trader.last_outcome, trader.last_order, trader.last_bar_ts, trader.last_signal_at) == (
        "ordered",
        order,
        day(3),
        day(3),
    )
    assert AuditLog.objects.filter(message=f"Auto-trader placed order #{order.pk}").count() == 1

    assert run_autotraders.delay().get() == {"ran": 1, "ordered": 0}
    autotrade.autotrade_run(trader_id=trader.pk)
    assert Order.objects.count() == 1

    bar(trader.instrument, 4, 13)  # the buy fills at this open; still above the average: entry again, but held
    paper.orders_match(instrument_ids=None)
    bar(trader.instrument, 5, 9)  # below the average: sell the whole position
    autotrade.autotrade_run(trader_id=trader.pk, now=day(5))
    sell = Order.objects.filter(side="sell").get()
    assert sell.quantity == 5


def test_no_look_ahead_bars_after_now_are_ignored(trader) -> None:
    bar(trader.instrument, 3, 12)
    autotrade.autotrade_run(trader_id=trader.pk, now=day(2) + dt.timedelta(hours=1))
    trader.refresh_from_db()
    assert (trader.last_outcome, trader.last_bar_ts) == ("no_signal", day(2))
    assert not Order.objects.exists()


def test_disabled_trader_does_nothing(trader) -> None:
    autotrade.autotrader_set_enabled(trader=trader, enabled=False, actor=trader.owner)
    bar(trader.instrument, 3, 12)
    assert run_autotraders.delay().get() == {"ran": 0, "ordered": 0}
    autotrade.autotrade_run(trader_id=trader.pk)
    trader.refresh_from_db()
    assert not Order.objects.exists()
    assert (trader.last_outcome, trader.last_run_at) == ("", None)


def test_new_trader_is_disabled_by_default(trader) -> None:
    other = autotrade.autotrader_create(
        actor=trader.owner,
        portfolio=trader.portfolio,
        strategy=StrategyFactory(owner=trader.owner, kind="buy_and_hold", params={}),
        instrument=trader.instrument,
        quantity=1,
    )
    assert other.enabled is False


def test_owner_without_trade_permission_places_nothing_and_the_reason_is_recorded(trader) -> None:
    owner = trader.portfolio.owner
    owner.groups.set([Group.objects.get(name=GUEST)])
    bar(trader.instrument, 3, 12)
    autotrade.autotrade_run(trader_id=trader.pk)
    trader.refresh_from_db()
    assert not Order.objects.exists()
    assert trader.last_outcome == "forbidden"
    assert "stock.trade" in trader.last_reason
    assert trader.last_signal_at == day(3)


def test_rejected_order_is_recorded_once(trader) -> None:
    AutoTrader.objects.filter(pk=trader.pk).update(quantity=Decimal("100000"))
    bar(trader.instrument, 3, 12)
    autotrade.autotrade_run(trader_id=trader.pk)
    trader.refresh_from_db()
    assert trader.last_outcome == "rejected"
    assert trader.last_reason.startswith("insufficient_cash")
    assert not Order.objects.exists()
