"""Serializers of the stock API: they validate and shape; services write."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.core.serializers import MONEY_MAX, BaseModelSerializer, DecimalField, FloatField, IntegerField

from ..choices import OrderSide, OrderType, Timeframe, TimeInForce
from ..models import (
    AutoTradeOutcome,
    AutoTrader,
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
from ..services.research import RANKABLE
from ..strategies import STRATEGY_KINDS

KIND_HELP = "Strategy kind: " + ", ".join(sorted(STRATEGY_KINDS)) + " (see /api/v1/stock/strategy-kinds/)."
RUN_STATUS_HELP = "pending, running, succeeded, failed or cancelled"
ORDER_STATUS_HELP = "new, partially_filled, filled, cancelled or rejected"


class InstrumentSerializer(BaseModelSerializer):
    class Meta:
        model = Instrument
        fields = ["id", "symbol", "name", "exchange", "currency", "asset_class", "lot_size", "tick_size", "is_active"]


class PriceBarSerializer(BaseModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)

    class Meta:
        model = PriceBar
        fields = [
            "id",
            "instrument",
            "symbol",
            "timeframe",
            "ts",
            "open",
            "high",
            "low",
            "close",
            "adj_close",
            "volume",
        ]


class IndicatorQuerySerializer(serializers.Serializer):
    symbol = serializers.CharField()
    name = serializers.CharField()
    timeframe = serializers.ChoiceField(choices=Timeframe.choices, default="1d")
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    period = IntegerField(required=False, min_value=1, max_value=1000)
    fast = IntegerField(required=False, min_value=1, max_value=1000)
    slow = IntegerField(required=False, min_value=1, max_value=1000)
    signal = IntegerField(required=False, min_value=1, max_value=1000)
    smooth = IntegerField(required=False, min_value=1, max_value=1000)
    k = FloatField(required=False, min_value=0.1, max_value=10)


class IndicatorResponseSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    name = serializers.CharField()
    params = serializers.DictField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.ListField(), help_text=_("[ts, value, ...] per bar; null in warm-up.")
    )


class StrategyKindSerializer(serializers.Serializer):
    name = serializers.CharField()
    # A declared field named like Field.label: DRF's serializer metaclass moves declared fields off the class.
    label = serializers.CharField()  # type: ignore[assignment]
    schema = serializers.DictField()


class StrategySerializer(BaseModelSerializer):
    kind = serializers.CharField(help_text=KIND_HELP)
    params = serializers.JSONField(required=False)

    class Meta:
        model = Strategy
        fields = ["id", "owner", "name", "kind", "params", "description", "created_at", "updated_at"]
        read_only_fields = ["owner", "created_at", "updated_at"]


class RunSettingsSerializer(serializers.Serializer):
    """Selection and settings shared by backtests and sweeps (settings are validated by the service)."""

    symbol = serializers.CharField()
    timeframe = serializers.ChoiceField(choices=Timeframe.choices, default="1d")
    start = serializers.DateTimeField(required=False, allow_null=True)
    end = serializers.DateTimeField(required=False, allow_null=True)
    initial_cash = FloatField(required=False, min_value=0.01, max_value=float(MONEY_MAX))
    commission = serializers.JSONField(
        required=False, help_text='{"model": "percent", "rate": 0.001}, per_share, fixed'
    )
    slippage_bps = FloatField(required=False, min_value=0, max_value=10_000)
    sizing = serializers.JSONField(required=False, help_text='{"model": "fixed", "quantity": 10}, percent, all_in')
    allow_short = serializers.BooleanField(required=False)
    fill_on_close = serializers.BooleanField(required=False)

    SETTINGS = ("initial_cash", "commission", "slippage_bps", "sizing", "allow_short", "fill_on_close")

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        data = dict(self.validated_data)
        settings = {k: data.pop(k) for k in self.SETTINGS if k in data}
        return data, settings


class BacktestCreateSerializer(RunSettingsSerializer):
    symbol = serializers.CharField(required=False, help_text=_("One instrument; or give `symbols`."))
    symbols = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        min_length=1,
        max_length=50,
        help_text=_("Several instruments, run as equal sleeves of one portfolio (the cash split equally)."),
    )
    strategy_id = IntegerField(required=False)
    kind = serializers.CharField(required=False, help_text=KIND_HELP)
    params = serializers.JSONField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("symbol")) == ("symbols" in attrs):
            raise serializers.ValidationError({"symbol": [gettext("Give either `symbol` or `symbols`.")]})
        return attrs


class BacktestRunSerializer(BaseModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    symbols = serializers.SerializerMethodField()
    status = serializers.CharField(read_only=True, help_text=RUN_STATUS_HELP)

    def get_symbols(self, obj: BacktestRun) -> list[str]:
        """Every instrument of the run (several: one portfolio of equal sleeves), from the run's snapshot."""
        return list((obj.config or {}).get("symbols") or [obj.instrument.symbol])

    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "owner",
            "strategy",
            "instrument",
            "symbol",
            "symbols",
            "timeframe",
            "start",
            "end",
            "status",
            "config",
            "metrics",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "progress_percent",
            "progress_message",
            "result",
        ]
        read_only_fields = fields


class BacktestTradeSerializer(BaseModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True, allow_null=True, default=None)

    class Meta:
        model = BacktestTrade
        fields = [
            "seq",
            "instrument",
            "symbol",
            "side",
            "quantity",
            "entry_ts",
            "entry_price",
            "exit_ts",
            "exit_price",
            "gross_pnl",
            "commission",
            "pnl",
            "is_open",
        ]


class EquityPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    equity = FloatField()
    drawdown = FloatField()


class SweepCreateSerializer(RunSettingsSerializer):
    kind = serializers.CharField(help_text=KIND_HELP)
    grid = serializers.JSONField(help_text='param -> list, or {"start": 5, "stop": 50, "step": 1}')
    rank_by = serializers.ChoiceField(choices=sorted(RANKABLE), default="sharpe")


class SweepSerializer(BaseModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    progress = FloatField(read_only=True)
    status = serializers.CharField(read_only=True, help_text=RUN_STATUS_HELP)
    results = serializers.SerializerMethodField()

    class Meta:
        model = Sweep
        fields = [
            "id",
            "owner",
            "kind",
            "grid",
            "rank_by",
            "instrument",
            "symbol",
            "timeframe",
            "start",
            "end",
            "status",
            "total",
            "done",
            "progress",
            "config",
            "results",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "progress_percent",
            "progress_message",
            "result",
        ]
        read_only_fields = fields

    def get_results(self, obj: Sweep) -> list[dict[str, Any]]:
        """The best 50 (all of them at .../results/)."""
        return obj.results[:50]


class PortfolioSerializer(BaseModelSerializer):
    class Meta:
        model = Portfolio
        fields = [
            "id",
            "owner",
            "name",
            "base_currency",
            "cash",
            "reserved_cash",
            "allow_margin",
            "max_position_pct",
            "max_order_value",
            "created_at",
        ]
        read_only_fields = ["owner", "reserved_cash", "created_at"]
        # the database allows 0 < max_position_pct <= 100; out of range is a 400 here, on create and on update
        extra_kwargs: ClassVar = {
            "max_position_pct": {"min_value": Decimal("0.01"), "max_value": Decimal("100")},
            "cash": {"min_value": 0},
            "max_order_value": {"min_value": 0},
        }


class PortfolioUpdateSerializer(PortfolioSerializer):
    class Meta(PortfolioSerializer.Meta):
        read_only_fields = ["owner", "cash", "reserved_cash", "created_at", "base_currency"]


class ValuationSerializer(serializers.Serializer):
    cash = DecimalField(max_digits=20, decimal_places=2)
    reserved_cash = DecimalField(max_digits=20, decimal_places=2)
    market_value = DecimalField(max_digits=20, decimal_places=2)
    equity = DecimalField(max_digits=20, decimal_places=2)
    unrealized_pnl = DecimalField(max_digits=20, decimal_places=2)
    realized_pnl = DecimalField(max_digits=20, decimal_places=2)


class PortfolioShareSerializer(serializers.Serializer):
    user_id = IntegerField()
    level = serializers.ChoiceField(choices=["view", "change", "manage"], default="view")


class OrderSerializer(BaseModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    status = serializers.CharField(read_only=True, help_text=ORDER_STATUS_HELP)

    class Meta:
        model = Order
        fields = [
            "id",
            "portfolio",
            "instrument",
            "symbol",
            "timeframe",
            "side",
            "order_type",
            "quantity",
            "limit_price",
            "stop_price",
            "time_in_force",
            "status",
            "filled_quantity",
            "avg_fill_price",
            "reserved_cash",
            "reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderCreateSerializer(serializers.Serializer):
    portfolio_id = IntegerField()
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=OrderSide.choices)
    quantity = DecimalField(max_digits=20, decimal_places=6, min_value=Decimal("0.000001"))
    order_type = serializers.ChoiceField(choices=OrderType.choices, default=OrderType.MARKET)
    limit_price = DecimalField(max_digits=20, decimal_places=8, min_value=0, required=False, allow_null=True)
    stop_price = DecimalField(max_digits=20, decimal_places=8, min_value=0, required=False, allow_null=True)
    time_in_force = serializers.ChoiceField(choices=TimeInForce.choices, default=TimeInForce.GTC)
    timeframe = serializers.ChoiceField(choices=Timeframe.choices, default="1d")


class PositionSerializer(BaseModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    last_price = DecimalField(max_digits=20, decimal_places=8, read_only=True, allow_null=True)
    market_value = DecimalField(max_digits=20, decimal_places=2, read_only=True, allow_null=True)
    unrealized_pnl = DecimalField(max_digits=20, decimal_places=2, read_only=True, allow_null=True)

    class Meta:
        model = Position
        fields = [
            "id",
            "portfolio",
            "instrument",
            "symbol",
            "quantity",
            "avg_cost",
            "realized_pnl",
            "last_price",
            "market_value",
            "unrealized_pnl",
            "updated_at",
        ]
        read_only_fields = fields


class FillSerializer(BaseModelSerializer):
    class Meta:
        model = Fill
        fields = [
            "id",
            "order",
            "portfolio",
            "instrument",
            "side",
            "bar_ts",
            "quantity",
            "price",
            "commission",
            "created_at",
        ]
        read_only_fields = fields


class JobAcceptedSerializer(serializers.Serializer):
    status = serializers.CharField()


class AutoTraderSerializer(BaseModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    # empty until the first run (read-only model fields lose allow_blank, and with it "" in the schema's enum)
    last_outcome = serializers.ChoiceField(choices=AutoTradeOutcome.choices, allow_blank=True, read_only=True)

    class Meta:
        model = AutoTrader
        fields = [
            "id",
            "portfolio",
            "strategy",
            "instrument",
            "symbol",
            "timeframe",
            "quantity",
            "enabled",
            "last_bar_ts",
            "last_signal_at",
            "last_outcome",
            "last_reason",
            "last_run_at",
            "last_order",
            "owner",
            "created_at",
        ]
        read_only_fields = fields


class AutoTraderCreateSerializer(serializers.Serializer):
    portfolio_id = IntegerField()
    strategy_id = IntegerField()
    symbol = serializers.CharField()
    timeframe = serializers.ChoiceField(choices=Timeframe.choices, default="1d")
    quantity = DecimalField(max_digits=20, decimal_places=6, min_value=Decimal("0.000001"))
    enabled = serializers.BooleanField(default=False)
