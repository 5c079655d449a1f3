"""Stock API: market data, indicators, strategies, backtests, sweeps and paper trading. Thin: services do the work."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apps.core.csv import CSVRenderer
from apps.core.exceptions import Forbidden
from apps.core.idempotency import IDEMPOTENCY_PARAMETER, IdempotentCreateMixin
from apps.core.jobs import JobCancelMixin, JobCreateMixin
from apps.core.permissions import ActionPermission, RequirePermission, objects_visible_to
from apps.core.schema import ErrorSerializer
from apps.core.viewsets import (
    BaseAPIView,
    BaseModelViewSet,
    BaseReadOnlyViewSet,
    OwnedCreateListRetrieveViewSet,
    OwnedModelViewSet,
    UserLanguageMixin,
)

from .. import conf, selectors
from ..filtersets import (
    BacktestRunFilterSet,
    FillFilterSet,
    InstrumentFilterSet,
    OrderFilterSet,
    PortfolioFilterSet,
    PositionFilterSet,
    PriceBarFilterSet,
    StrategyFilterSet,
    SweepFilterSet,
)
from ..indicators import indicator_compute
from ..models import AutoTrader, BacktestRun, Fill, Instrument, Order, Portfolio, PriceBar, Strategy, Sweep
from ..services import autotrade, paper, research
from ..strategies import STRATEGY_KINDS
from . import serializers as s

READ, TRADE = "stock.read", "stock.trade"
# Instruments, bars and prices are company-wide reference data: everyone with stock.read reads them; changing them
# is managing a suite resource, for managers and admins (resources.manage), never a plain trader (stock.trade).
MARKET_DATA_MANAGE = "resources.manage"


class SVGRenderer(renderers.BaseRenderer):
    media_type = "image/svg+xml"
    format = "svg"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data.encode() if isinstance(data, str) else b""


# --- Market data ----------------------------------------------------------------------------------------------------


class InstrumentViewSet(BaseModelViewSet):
    """Instruments (company-wide data): read with stock.read, created, changed and deleted with resources.manage."""

    queryset = Instrument.objects.order_by("symbol", "exchange")
    serializer_class = s.InstrumentSerializer
    filterset_class = InstrumentFilterSet
    required_permissions: ClassVar = {"read": READ, "write": MARKET_DATA_MANAGE}
    search_fields = ["symbol", "name"]
    ordering_fields = ["symbol", "exchange", "created_at"]


class PriceBarViewSet(BaseReadOnlyViewSet):
    """Bars filtered by symbol, timeframe and range (`start`, `end`). `?format=csv` exports the whole selection."""

    queryset = PriceBar.objects.select_related("instrument").order_by("instrument_id", "timeframe", "ts")
    serializer_class = s.PriceBarSerializer
    filterset_class = PriceBarFilterSet
    required_permissions: ClassVar = {"read": READ}
    ordering_fields = ["ts"]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]  # type: ignore[list-item]  # resolved classes
    csv_fields = ("symbol", "timeframe", "ts", "open", "high", "low", "close", "adj_close", "volume")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if getattr(request.accepted_renderer, "format", None) == "csv":
            queryset = self.filter_queryset(self.get_queryset())[: conf.csv_export_max_rows()]
            rows = [
                {
                    "symbol": bar.instrument.symbol,
                    "timeframe": bar.timeframe,
                    "ts": bar.ts.isoformat(),
                    "open": bar.open,
                    "high": bar.high,
                    "low": bar.low,
                    "close": bar.close,
                    "adj_close": bar.adj_close,
                    "volume": bar.volume,
                }
                for bar in queryset
            ]
            response = Response(rows)
            response["Content-Disposition"] = 'attachment; filename="bars.csv"'
            return response
        return super().list(request, *args, **kwargs)


class IndicatorView(BaseAPIView):
    """An indicator over a symbol's bars: `?symbol=ORCL&name=rsi&period=14` (names: sma ema wma rsi macd bollinger
    atr stochastic obv volatility)."""

    permission_classes = [RequirePermission(READ)]

    @extend_schema(
        parameters=[s.IndicatorQuerySerializer],
        responses={200: s.IndicatorResponseSerializer, 404: OpenApiResponse(ErrorSerializer, "Unknown symbol.")},
    )
    def get(self, request: Request) -> Response:
        query = s.IndicatorQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        instrument = selectors.instrument_by_symbol(symbol=data.pop("symbol"))
        name, timeframe = data.pop("name"), data.pop("timeframe")
        frame = selectors.bars_for_run(
            instrument=instrument, timeframe=timeframe, start=data.pop("start", None), end=data.pop("end", None)
        )
        result = indicator_compute(frame, name, data)
        columns = list(result)
        stacked = np.column_stack([result[c] for c in columns]).round(8)
        rows = [
            [ts.isoformat(), *[None if np.isnan(v) else float(v) for v in values]]
            for ts, values in zip(frame["ts"], stacked, strict=True)
        ]
        return Response(
            {"symbol": instrument.symbol, "name": name, "params": data, "columns": ["ts", *columns], "rows": rows}
        )


class StrategyKindView(BaseAPIView):
    """The registered strategy kinds with their parameter schemas."""

    permission_classes = [RequirePermission(READ)]

    @extend_schema(responses=s.StrategyKindSerializer(many=True))
    def get(self, request: Request) -> Response:
        data = [{"name": k.name, "label": k.label, "schema": k.schema()} for k in STRATEGY_KINDS.values()]
        return Response(s.StrategyKindSerializer(data, many=True).data)


# --- Research -------------------------------------------------------------------------------------------------------


class StrategyViewSet(OwnedModelViewSet):
    """Your strategies (and those shared with you). Parameters are validated against the kind's schema."""

    queryset = Strategy.objects.select_related("owner").order_by("name", "id")
    serializer_class = s.StrategySerializer
    filterset_class = StrategyFilterSet
    required_permissions: ClassVar = {"read": READ, "write": TRADE}
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]

    def create_object(self, serializer: Any, **extra: Any) -> Any:
        return research.strategy_create(owner=self.request.user, **serializer.validated_data)

    def update_object(self, serializer: Any) -> Any:
        return research.strategy_update(
            strategy=serializer.instance, actor=self.request.user, **serializer.validated_data
        )


def _accepted(data: Any) -> Response:
    return Response(data, status=status.HTTP_202_ACCEPTED)


class BacktestRunViewSet(IdempotentCreateMixin, JobCreateMixin, JobCancelMixin, OwnedCreateListRetrieveViewSet):
    """Backtests: POST queues a run (202, `Location` to poll) -> poll GET .../{id}/ until `status` is succeeded;
    then trades, equity and chart; POST .../{id}/cancel/ stops a pending or running one. `symbol` runs one
    instrument; `symbols` runs several as equal sleeves of one portfolio."""

    # The equity curve and chart are served by their own actions; the list and detail never load them.
    queryset = (
        BacktestRun.objects.select_related("instrument").defer("equity", "chart_svg").order_by("-created_at", "-id")
    )
    serializer_class = s.BacktestRunSerializer
    filterset_class = BacktestRunFilterSet
    required_permissions: ClassVar = {"read": READ, "create": TRADE, "cancel": TRADE}
    ordering_fields = ["created_at", "status"]

    @extend_schema(
        request=s.BacktestCreateSerializer, responses={202: s.BacktestRunSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.run_idempotently(request, lambda: self._queue(request))

    def _queue(self, request: Request) -> Response:
        payload = s.BacktestCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        selection, settings = payload.split()
        strategy = None
        if (strategy_id := selection.pop("strategy_id", None)) is not None:
            visible = objects_visible_to(request.user, Strategy.objects.all())
            strategy = get_object_or_404(visible, pk=strategy_id)
        run = research.backtest_create(owner=request.user, strategy=strategy, settings=settings, **selection)
        return self.job_accepted(run)

    @extend_schema(responses=s.BacktestTradeSerializer(many=True))
    @action(detail=True, methods=["get"])
    def trades(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        queryset = run.trades.select_related("instrument").order_by("seq")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.BacktestTradeSerializer(page, many=True).data)

    @extend_schema(responses=s.EquityPointSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole curve, one plain list
    def equity(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        return Response([{"date": d, "equity": e, "drawdown": x} for d, e, x in run.equity])

    @extend_schema(responses={(200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.STR, description="SVG chart")})
    @action(detail=True, methods=["get"], renderer_classes=[SVGRenderer])
    def chart(self, request: Request, pk: str | None = None) -> HttpResponse:
        run = self.get_object()
        return HttpResponse(run.chart_svg, content_type="image/svg+xml")


class SweepViewSet(IdempotentCreateMixin, JobCreateMixin, JobCancelMixin, OwnedCreateListRetrieveViewSet):
    """Parameter sweeps: POST queues one (202, `Location` to poll); poll `progress`; results ranked by `rank_by`;
    POST .../{id}/cancel/ stops a pending or running one."""

    queryset = Sweep.objects.select_related("instrument").order_by("-created_at", "-id")
    serializer_class = s.SweepSerializer
    filterset_class = SweepFilterSet
    required_permissions: ClassVar = {"read": READ, "create": TRADE, "cancel": TRADE}
    ordering_fields = ["created_at", "status"]

    @extend_schema(
        request=s.SweepCreateSerializer, responses={202: s.SweepSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.run_idempotently(request, lambda: self._queue(request))

    def _queue(self, request: Request) -> Response:
        payload = s.SweepCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        selection, settings = payload.split()
        sweep = research.sweep_create(owner=request.user, settings=settings, **selection)
        return self.job_accepted(sweep)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str | None = None) -> Response:
        sweep = self.get_object()
        return Response({"rank_by": sweep.rank_by, "status": sweep.status, "results": sweep.results})


# --- Paper trading --------------------------------------------------------------------------------------------------


def visible_portfolios(request: Request) -> QuerySet[Portfolio]:
    return objects_visible_to(request.user, Portfolio.objects.all())


def tradable_portfolio(request: Request, portfolio_id: int) -> Portfolio:
    """A portfolio the caller may trade: 404 if not visible, 403 if only shared for reading."""
    portfolio = get_object_or_404(visible_portfolios(request), pk=portfolio_id)
    user = request.user
    if portfolio.owner_id != user.pk and not user.has_perm("stock.change_portfolio", portfolio):
        raise Forbidden(gettext("This portfolio is shared with you read-only."))
    return portfolio


class PortfolioViewSet(OwnedModelViewSet):
    """Paper portfolios: yours and those shared with you (read); valuation with P&L; share with a user."""

    queryset = Portfolio.objects.select_related("owner").order_by("name", "id")
    serializer_class = s.PortfolioSerializer
    filterset_class = PortfolioFilterSet
    required_permissions: ClassVar = {"read": READ, "write": TRADE}
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def get_serializer_class(self) -> Any:
        if self.action in ("update", "partial_update"):
            return s.PortfolioUpdateSerializer
        return super().get_serializer_class()

    def create_object(self, serializer: Any, **extra: Any) -> Any:
        return paper.portfolio_create(owner=self.request.user, **serializer.validated_data)

    @extend_schema(responses=s.ValuationSerializer)
    @action(detail=True, methods=["get"])
    def valuation(self, request: Request, pk: str | None = None) -> Response:
        return Response(s.ValuationSerializer(selectors.portfolio_valuation(portfolio=self.get_object())).data)

    @extend_schema(request=s.PortfolioShareSerializer, responses={204: None})
    @action(detail=True, methods=["post"])
    def share(self, request: Request, pk: str | None = None) -> Response:
        portfolio = self.get_object()
        if portfolio.owner_id != request.user.pk and not request.user.is_superuser:
            raise Forbidden(gettext("Only the owner shares a portfolio."))
        payload = s.PortfolioShareSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        from django.contrib.auth import get_user_model

        to = get_object_or_404(get_user_model(), pk=payload.validated_data["user_id"])
        with transaction.atomic():
            paper.portfolio_share(portfolio=portfolio, to=to, actor=request.user, level=payload.validated_data["level"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PortfolioChildMixin:
    """Rows of portfolios the caller may see (narrowed in SQL)."""

    def get_queryset(self: Any) -> Any:
        return super().get_queryset().filter(portfolio__in=visible_portfolios(self.request))  # type: ignore[misc]


class OrderViewSet(
    UserLanguageMixin,
    PortfolioChildMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Paper orders: place (pre-trade risk checks; 400 with the reason and nothing written on failure), cancel, and
    match open orders against the latest bars on demand (also done whenever bars are loaded)."""

    queryset = Order.objects.select_related("instrument").order_by("-created_at", "-id")
    serializer_class = s.OrderSerializer
    filterset_class = OrderFilterSet
    permission_classes = [ActionPermission]
    required_permissions: ClassVar = {"read": READ, "create": TRADE, "cancel": TRADE, "match": TRADE}
    ordering_fields = ["created_at", "status"]

    @extend_schema(request=s.OrderCreateSerializer, responses={201: s.OrderSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.OrderCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        portfolio = tradable_portfolio(request, data.pop("portfolio_id"))
        instrument = selectors.instrument_by_symbol(symbol=data.pop("symbol"))
        order = paper.order_place(portfolio=portfolio, actor=request.user, instrument=instrument, **data)
        return Response(s.OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.OrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        tradable_portfolio(request, order.portfolio_id)
        order = paper.order_cancel(order=order, actor=request.user)
        return Response(s.OrderSerializer(order).data)

    @extend_schema(request=None, responses={202: s.JobAcceptedSerializer})
    @action(detail=False, methods=["post"])
    def match(self, request: Request) -> Response:
        from ..tasks import match_orders

        transaction.on_commit(lambda: match_orders.delay(None))
        return _accepted({"status": "queued"})


class PositionViewSet(PortfolioChildMixin, BaseReadOnlyViewSet):
    """Positions with the last daily close, market value and unrealized P&L."""

    queryset = selectors.position_list(portfolios=Portfolio.objects.all())
    serializer_class = s.PositionSerializer
    filterset_class = PositionFilterSet
    required_permissions: ClassVar = {"read": READ}


class FillViewSet(PortfolioChildMixin, BaseReadOnlyViewSet):
    queryset = Fill.objects.order_by("-created_at", "-id")
    serializer_class = s.FillSerializer
    filterset_class = FillFilterSet
    required_permissions: ClassVar = {"read": READ}


class AutoTraderViewSet(OwnedCreateListRetrieveViewSet):
    """Auto-traders: a strategy attached to one of your portfolios places paper orders from its latest signal on the
    beat schedule. Created disabled unless `enabled` is true; enable/disable with the actions."""

    queryset = AutoTrader.objects.select_related("instrument").order_by("portfolio_id", "id")
    serializer_class = s.AutoTraderSerializer
    required_permissions: ClassVar = {"read": READ, "create": TRADE, "enable": TRADE, "disable": TRADE}
    ordering_fields = ["created_at"]

    @extend_schema(request=s.AutoTraderCreateSerializer, responses={201: s.AutoTraderSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.AutoTraderCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        portfolio = get_object_or_404(visible_portfolios(request), pk=data.pop("portfolio_id"))
        strategy = get_object_or_404(
            objects_visible_to(request.user, Strategy.objects.all()), pk=data.pop("strategy_id")
        )
        instrument = selectors.instrument_by_symbol(symbol=data.pop("symbol"))
        with transaction.atomic():
            trader = autotrade.autotrader_create(
                actor=request.user, portfolio=portfolio, strategy=strategy, instrument=instrument, **data
            )
        return Response(s.AutoTraderSerializer(trader).data, status=status.HTTP_201_CREATED)

    def _switch(self, request: Request, enabled: bool) -> Response:
        trader = self.get_object()
        if trader.owner_id != request.user.pk:
            raise Forbidden(gettext("Only the portfolio's owner switches its auto-trader."))
        trader = autotrade.autotrader_set_enabled(trader=trader, enabled=enabled, actor=request.user)
        return Response(s.AutoTraderSerializer(trader).data)

    @extend_schema(request=None, responses=s.AutoTraderSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str | None = None) -> Response:
        return self._switch(request, True)

    @extend_schema(request=None, responses=s.AutoTraderSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        return self._switch(request, False)
