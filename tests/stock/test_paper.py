"""Paper trading: risk checks, order state machine, limit/stop fill rules, partial fills, and the cash race."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.roles import USER
from apps.stock.models import Fill, Order, Portfolio, Position, PriceBar
from apps.stock.selectors import portfolio_valuation
from apps.stock.services import paper
from tests.core.factories import UserFactory

from .factories import InstrumentFactory, PriceBarFactory

T0 = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


@pytest.fixture
def setup(db):
    user = UserFactory(role=USER)
    instrument = InstrumentFactory(symbol="ACME")
    PriceBarFactory(instrument=instrument, ts=day(0), open=100, high=101, low=99, close=100, volume=0)
    portfolio = paper.portfolio_create(owner=user, name="main", cash=Decimal("10000"))
    return user, instrument, portfolio


def new_bar(instrument, n, o, h, lo, c, volume=0):
    return PriceBarFactory(instrument=instrument, ts=day(n), open=o, high=h, low=lo, close=c, volume=volume)


def test_market_buy_reserves_then_fills_at_next_open(setup, settings) -> None:
    settings.STOCK_PAPER_COMMISSION_PCT = "0.1"
    user, instrument, portfolio = setup
    order = paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=10)
    portfolio.refresh_from_db()
    # 10 x last close 100 x 1.05 buffer = 1050 + 0.1 % commission
    assert order.reserved_cash == Decimal("1051.05") == portfolio.reserved_cash
    assert paper.order_match(order_id=order.pk).status == "new"  # no bar after the order yet
    new_bar(instrument, 1, 102, 104, 101, 103)
    order = paper.order_match(order_id=order.pk)
    assert (order.status, order.filled_quantity, order.avg_fill_price) == ("filled", 10, Decimal("102"))
    portfolio.refresh_from_db()
    assert portfolio.cash == Decimal("10000") - Decimal("1020") - Decimal("1.02")
    assert portfolio.reserved_cash == 0
    position = Position.objects.get(portfolio=portfolio)
    assert (position.quantity, position.avg_cost, position.realized_pnl) == (10, Decimal("102"), Decimal("-1.02"))
    value = portfolio_valuation(portfolio=portfolio)
    assert value["unrealized_pnl"] == Decimal("10.00")  # (103 - 102) x 10
    assert value["equity"] == portfolio.cash + Decimal("1030")


@pytest.mark.parametrize(
    ("side", "kind", "level", "bar", "expected"),
    [
        ("buy", "limit", "98", (100, 101, 97, 99), Decimal("98")),  # low touches the limit: fills at the limit
        ("buy", "limit", "98", (96, 99, 95, 97), Decimal("96")),  # opens below the limit: fills at the open
        ("buy", "limit", "98", (100, 101, 98.5, 99), None),  # never reaches the limit
        ("sell", "limit", "103", (101, 104, 100, 102), Decimal("103")),
        ("sell", "limit", "103", (105, 106, 104, 105), Decimal("105")),
        ("buy", "stop", "103", (101, 104, 100, 103), Decimal("103")),  # high crosses the stop
        ("buy", "stop", "103", (105, 106, 104, 105), Decimal("105")),  # gaps through: the open
        ("buy", "stop", "103", (101, 102.5, 100, 102), None),
        ("sell", "stop", "97", (99, 100, 96, 97), Decimal("97")),
        ("sell", "stop", "97", (95, 96, 94, 95), Decimal("95")),
    ],
)
def test_limit_and_stop_rules(setup, side, kind, level, bar, expected) -> None:
    user, instrument, portfolio = setup
    if side == "sell":
        Position.objects.create(portfolio=portfolio, instrument=instrument, quantity=5, avg_cost=Decimal("90"))
    price = {"limit_price": level} if kind == "limit" else {"stop_price": level}
    order = paper.order_place(
        portfolio=portfolio, actor=user, instrument=instrument, side=side, quantity=5, order_type=kind, **price
    )
    new_bar(instrument, 1, *bar)
    order = paper.order_match(order_id=order.pk)
    if expected is None:
        assert order.status == "new" and not Fill.objects.exists()
    else:
        assert order.status == "filled" and order.avg_fill_price == expected


def test_partial_fills_follow_volume_then_fill(setup, settings) -> None:
    settings.STOCK_PAPER_VOLUME_PARTICIPATION = "0.1"
    user, instrument, portfolio = setup
    order = paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=30)
    new_bar(instrument, 1, 100, 101, 99, 100, volume=200)  # 10 % of 200 = 20
    order = paper.order_match(order_id=order.pk)
    assert (order.status, order.filled_quantity) == ("partially_filled", 20)
    portfolio.refresh_from_db()
    assert Decimal(0) < portfolio.reserved_cash < Decimal("3150")
    assert portfolio.reserved_cash == paper.portfolio_reserved_total(portfolio=portfolio)
    new_bar(instrument, 2, 101, 102, 100, 101, volume=1000)
    order = paper.order_match(order_id=order.pk)
    assert (order.status, order.filled_quantity) == ("filled", 30)
    assert order.avg_fill_price == ((20 * Decimal(100) + 10 * Decimal(101)) / 30).quantize(Decimal("1e-8"))
    portfolio.refresh_from_db()
    assert portfolio.reserved_cash == 0
    assert Fill.objects.filter(order=order).count() == 2


def test_sell_realizes_pnl_and_day_orders_expire(setup) -> None:
    user, instrument, portfolio = setup
    Position.objects.create(portfolio=portfolio, instrument=instrument, quantity=10, avg_cost=Decimal("90"))
    sell = paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="sell", quantity=4)
    day_order = paper.order_place(
        portfolio=portfolio,
        actor=user,
        instrument=instrument,
        side="buy",
        quantity=1,
        order_type="limit",
        limit_price="50",
        time_in_force="day",
    )
    new_bar(instrument, 1, 100, 101, 99, 100)
    paper.orders_match()
    sell.refresh_from_db()
    day_order.refresh_from_db()
    assert sell.status == "filled"
    assert day_order.status == "cancelled" and "expired" in day_order.reason
    position = Position.objects.get(portfolio=portfolio)
    assert (position.quantity, position.realized_pnl) == (6, Decimal("40.00"))
    portfolio.refresh_from_db()
    assert portfolio.cash == Decimal("10400.00") and portfolio.reserved_cash == 0


def test_gap_beyond_reservation_is_rejected_with_reason(setup) -> None:
    user, instrument, portfolio = setup
    order = paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=90)
    new_bar(instrument, 1, 120, 121, 119, 120)  # cost 10,800 > 10,000 cash
    order = paper.order_match(order_id=order.pk)
    assert order.status == "rejected" and "cash" in order.reason
    portfolio.refresh_from_db()
    assert (portfolio.cash, portfolio.reserved_cash) == (Decimal("10000"), 0)


def test_cancel_state_machine(setup) -> None:
    user, instrument, portfolio = setup
    order = paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=1)
    order = paper.order_cancel(order=order, actor=user)
    assert order.status == "cancelled"
    portfolio.refresh_from_db()
    assert portfolio.reserved_cash == 0
    with pytest.raises(Conflict):
        paper.order_cancel(order=order, actor=user)
    filled = paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=1)
    new_bar(instrument, 1, 100, 101, 99, 100)
    paper.order_match(order_id=filled.pk)
    with pytest.raises(Conflict) as exc:
        paper.order_cancel(order=Order.objects.get(pk=filled.pk), actor=user)
    assert exc.value.code == "order_not_open"


@pytest.mark.parametrize(
    ("changes", "kwargs", "code"),
    [
        ({}, {"quantity": 1000}, "insufficient_cash"),
        ({"max_order_value": Decimal("500")}, {"quantity": 10}, "order_value_limit"),
        ({"max_position_pct": Decimal("10")}, {"quantity": 20}, "position_limit"),
        ({}, {"quantity": 1, "side": "sell"}, "insufficient_position"),
        ({}, {"quantity": -1}, "invalid"),
        ({}, {"quantity": 1, "order_type": "limit"}, "invalid"),
    ],
)
def test_pre_trade_checks_write_nothing(setup, changes, kwargs, code) -> None:
    user, instrument, portfolio = setup
    Portfolio.objects.filter(pk=portfolio.pk).update(**changes)
    portfolio.refresh_from_db()
    kwargs = {"side": "buy", **kwargs}
    with pytest.raises(ValidationFailed) as exc:
        paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, **kwargs)
    assert exc.value.code == code
    assert not Order.objects.exists()
    portfolio.refresh_from_db()
    assert portfolio.reserved_cash == 0


def test_inactive_instrument_and_market_hours(setup) -> None:
    user, instrument, portfolio = setup
    instrument.is_active = False
    instrument.save()
    with pytest.raises(ValidationFailed) as exc:
        paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=1)
    assert exc.value.code == "inactive_instrument"
    instrument.is_active = True
    instrument.save()
    PriceBarFactory(instrument=instrument, timeframe="1m", ts=dt.datetime(2024, 1, 5, 15, 0, tzinfo=dt.UTC))
    saturday = dt.datetime(2024, 1, 6, 15, 0, tzinfo=dt.UTC)
    with pytest.raises(ValidationFailed) as exc:
        paper.order_place(
            portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=1, timeframe="1m", now=saturday
        )
    assert exc.value.code == "market_closed"
    friday = dt.datetime(2024, 1, 5, 15, 0, tzinfo=dt.UTC)
    order = paper.order_place(
        portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=1, timeframe="1m", now=friday
    )
    assert order.status == "new"
    assert not Portfolio.objects.filter(cash__lt=0).exists()


def test_negative_cash_portfolio_is_rejected(db) -> None:
    with pytest.raises(ValidationFailed):
        paper.portfolio_create(owner=UserFactory(), name="x", cash=-1)
    assert not Portfolio.objects.exists()


def test_loading_bars_matches_open_orders(setup, django_capture_on_commit_callbacks) -> None:
    import pandas as pd

    from apps.stock.services.bars import bars_load

    user, instrument, portfolio = setup
    order = paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=1)
    frame = pd.DataFrame(
        {
            "ts": [pd.Timestamp(day(1))],
            "open": [101.0],
            "high": [102.0],
            "low": [100.0],
            "close": [101.5],
            "adj_close": [101.5],
            "volume": [0.0],
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        bars_load(instrument=instrument, timeframe="1d", frame=frame)
    order.refresh_from_db()
    assert order.status == "filled" and order.avg_fill_price == Decimal("101")


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_never_spend_the_same_cash_twice() -> None:
    """Two threads (two database connections) each place a buy worth 60 % of the cash at the same moment: exactly
    one is accepted; the other is refused under the portfolio row lock."""
    user = UserFactory(role=USER)
    instrument = InstrumentFactory(symbol="RACE")
    PriceBar.objects.create(instrument=instrument, timeframe="1d", ts=T0, open=100, high=100, low=100, close=100)
    portfolio = paper.portfolio_create(owner=user, name="race", cash=Decimal("10000"))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def place() -> None:
        try:
            barrier.wait()
            paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=57)
            outcomes.append("accepted")
        except ValidationFailed as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=place) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted", "insufficient_cash", "insufficient_cash", "insufficient_cash"]
    portfolio.refresh_from_db()
    assert portfolio.reserved_cash == Order.objects.get().reserved_cash == Decimal("5985.00")
    assert portfolio.available_cash >= 0


@pytest.mark.parametrize(
    ("exchange", "asset_class", "utc", "expected"),
    [
        ("XNYS", "equity", dt.datetime(2024, 1, 5, 14, 0), False),  # 09:00 EST: before the open
        ("XNYS", "equity", dt.datetime(2024, 1, 5, 14, 30), True),  # 09:30 EST: the open
        ("XNYS", "equity", dt.datetime(2024, 1, 5, 20, 30), True),  # 15:30 EST
        ("XNYS", "equity", dt.datetime(2024, 1, 5, 21, 0), False),  # 16:00 EST: the close
        ("XNAS", "equity", dt.datetime(2024, 7, 1, 13, 30), True),  # 09:30 EDT (daylight saving time)
        ("XNAS", "equity", dt.datetime(2024, 7, 1, 20, 30), False),  # 16:30 EDT
        ("XNYS", "equity", dt.datetime(2024, 1, 6, 15, 0), False),  # Saturday
        ("XTKS", "equity", dt.datetime(2024, 1, 5, 2, 0), True),  # 11:00 JST
        ("XTKS", "equity", dt.datetime(2024, 1, 5, 3, 0), False),  # 12:00 JST: lunch break
        ("XLON", "equity", dt.datetime(2024, 7, 1, 7, 30), True),  # 08:30 BST
        ("XNYS", "crypto", dt.datetime(2024, 1, 6, 3, 0), True),  # crypto trades around the clock
        ("ZZZZ", "equity", dt.datetime(2024, 1, 5, 13, 45), True),  # unknown: STOCK_MARKET_HOURS_UTC 13:30-20:00
        ("ZZZZ", "equity", dt.datetime(2024, 1, 5, 20, 15), False),
    ],
)
def test_market_hours_follow_each_exchange_in_local_time(exchange, asset_class, utc, expected) -> None:
    from apps.stock.markets import market_is_open

    now = utc.replace(tzinfo=dt.UTC)
    assert market_is_open(exchange=exchange, asset_class=asset_class, now=now) is expected


def test_market_sessions_setting_adds_exchanges(settings) -> None:
    from apps.stock.markets import market_is_open

    settings.STOCK_MARKET_SESSIONS = {"XMAD": {"tz": "Europe/Madrid", "sessions": ["09:00-17:30"]}}
    assert market_is_open(exchange="XMAD", asset_class="equity", now=dt.datetime(2024, 1, 5, 16, 0, tzinfo=dt.UTC))
    assert not market_is_open(exchange="XMAD", asset_class="equity", now=dt.datetime(2024, 1, 5, 17, 0, tzinfo=dt.UTC))


def test_intraday_order_outside_the_local_session_writes_nothing(setup) -> None:
    user, instrument, portfolio = setup
    PriceBarFactory(instrument=instrument, timeframe="5m", ts=dt.datetime(2024, 1, 5, 14, 0, tzinfo=dt.UTC))
    early = dt.datetime(2024, 1, 5, 14, 15, tzinfo=dt.UTC)  # 09:15 in New York: the exchange is not open yet
    with pytest.raises(ValidationFailed) as exc:
        paper.order_place(
            portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=1, timeframe="5m", now=early
        )
    assert exc.value.code == "market_closed" and exc.value.details["exchange"] == "XNYS"
    assert not Order.objects.exists()
    portfolio.refresh_from_db()
    assert portfolio.reserved_cash == 0


def test_partially_filled_order_cancels_and_releases_the_rest(setup, settings) -> None:
    settings.STOCK_PAPER_VOLUME_PARTICIPATION = "0.1"
    user, instrument, portfolio = setup
    order = paper.order_place(portfolio=portfolio, actor=user, instrument=instrument, side="buy", quantity=30)
    new_bar(instrument, 1, 100, 101, 99, 100, volume=100)  # 10 % of 100 = 10 of 30
    order = paper.order_match(order_id=order.pk)
    assert (order.status, order.filled_quantity) == ("partially_filled", 10)
    order = paper.order_cancel(order=order, actor=user)
    assert (order.status, order.filled_quantity, order.reserved_cash) == ("cancelled", 10, 0)
    portfolio.refresh_from_db()
    assert portfolio.reserved_cash == 0 and portfolio.cash == Decimal("9000.00")
    assert Position.objects.get(portfolio=portfolio).quantity == 10
    new_bar(instrument, 2, 100, 101, 99, 100, volume=1000)
    assert paper.order_match(order_id=order.pk).filled_quantity == 10  # a cancelled order never fills again
    with pytest.raises(Conflict):
        paper.order_cancel(order=order, actor=user)
