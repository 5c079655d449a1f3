import datetime as dt
from decimal import Decimal

import factory

from apps.stock.models import (
    BacktestRun,
    BacktestTrade,
    Fill,
    Instrument,
    Order,
    Portfolio,
    Position,
    PriceBar,
    Strategy,
    Sweep,
)
from tests.core.factories import UserFactory


class InstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instrument

    symbol = factory.Sequence(lambda n: f"SYM{n}")
    name = factory.LazyAttribute(lambda o: f"{o.symbol} Inc.")
    exchange = "XNYS"


class PriceBarFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceBar

    instrument = factory.SubFactory(InstrumentFactory)
    timeframe = "1d"
    ts = factory.Sequence(lambda n: dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n))
    open = 100.0
    high = 101.0
    low = 99.0
    close = 100.0
    adj_close = 100.0
    volume = 1_000_000


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"strategy {n}")
    kind = "sma_cross"
    params = factory.LazyFunction(lambda: {"fast": 10, "slow": 30})


class BacktestRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BacktestRun

    owner = factory.SubFactory(UserFactory)
    instrument = factory.SubFactory(InstrumentFactory)
    config = factory.LazyFunction(lambda: {"kind": "buy_and_hold", "params": {}})


class BacktestTradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BacktestTrade

    run = factory.SubFactory(BacktestRunFactory)
    seq = factory.Sequence(lambda n: n + 1)
    side = "long"
    quantity = 10
    entry_ts = dt.datetime(2020, 1, 2, tzinfo=dt.UTC)
    entry_price = 100.0


class SweepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sweep

    owner = factory.SubFactory(UserFactory)
    instrument = factory.SubFactory(InstrumentFactory)
    kind = "sma_cross"
    grid = factory.LazyFunction(lambda: {"fast": [5], "slow": [20]})


class PortfolioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Portfolio

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"portfolio {n}")
    cash = Decimal("100000.00")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    portfolio = factory.SubFactory(PortfolioFactory)
    instrument = factory.SubFactory(InstrumentFactory)
    side = "buy"
    quantity = Decimal("10")
    after_ts = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory)
    portfolio = factory.LazyAttribute(lambda o: o.order.portfolio)
    instrument = factory.LazyAttribute(lambda o: o.order.instrument)
    side = "buy"
    bar_ts = dt.datetime(2020, 1, 2, tzinfo=dt.UTC)
    quantity = Decimal("10")
    price = Decimal("100")


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position

    portfolio = factory.SubFactory(PortfolioFactory)
    instrument = factory.SubFactory(InstrumentFactory)
    quantity = Decimal("10")
    avg_cost = Decimal("100")
