"""FilterSets of the stock API."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from apps.core.filtersets import BaseFilterSet, UTCIsoDateTimeFilter

from .models import BacktestRun, Fill, Instrument, Order, Portfolio, Position, PriceBar, Strategy, Sweep


class InstrumentFilterSet(BaseFilterSet):
    q_fields = ("symbol", "name")

    class Meta:
        model = Instrument
        fields = ["symbol", "exchange", "currency", "asset_class", "is_active"]


class PriceBarFilterSet(BaseFilterSet):
    symbol = django_filters.CharFilter(field_name="instrument__symbol", lookup_expr="iexact")
    instrument_id = django_filters.NumberFilter(field_name="instrument_id")
    start = UTCIsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    end = UTCIsoDateTimeFilter(field_name="ts", lookup_expr="lte")

    class Meta:
        model = PriceBar
        fields = ["symbol", "instrument_id", "timeframe", "start", "end"]


class StrategyFilterSet(BaseFilterSet):
    owner_id = django_filters.NumberFilter(field_name="owner_id")
    q_fields = ("name", "description")

    class Meta:
        model = Strategy
        fields = ["kind", "owner_id"]


class BacktestRunFilterSet(BaseFilterSet):
    strategy_id = django_filters.NumberFilter(field_name="strategy_id")
    instrument_id = django_filters.NumberFilter(
        field_name="instruments__id", help_text=_("Runs that include this instrument (alone or in a portfolio).")
    )

    class Meta:
        model = BacktestRun
        fields = ["status", "strategy_id", "instrument_id", "timeframe"]


class SweepFilterSet(BaseFilterSet):
    instrument_id = django_filters.NumberFilter(field_name="instrument_id")

    class Meta:
        model = Sweep
        fields = ["status", "kind", "instrument_id"]


class PortfolioFilterSet(BaseFilterSet):
    q_fields = ("name",)

    class Meta:
        model = Portfolio
        fields = ["base_currency"]


class OrderFilterSet(BaseFilterSet):
    portfolio_id = django_filters.NumberFilter(field_name="portfolio_id")
    instrument_id = django_filters.NumberFilter(field_name="instrument_id")

    class Meta:
        model = Order
        fields = ["portfolio_id", "instrument_id", "status", "side", "order_type"]


class PositionFilterSet(BaseFilterSet):
    portfolio_id = django_filters.NumberFilter(field_name="portfolio_id")
    instrument_id = django_filters.NumberFilter(field_name="instrument_id")

    class Meta:
        model = Position
        fields = ["portfolio_id", "instrument_id"]


class FillFilterSet(BaseFilterSet):
    portfolio_id = django_filters.NumberFilter(field_name="portfolio_id")
    order_id = django_filters.NumberFilter(field_name="order_id")
    instrument_id = django_filters.NumberFilter(field_name="instrument_id")

    class Meta:
        model = Fill
        fields = ["portfolio_id", "order_id", "instrument_id", "side"]
