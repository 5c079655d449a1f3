"""Reads of the stock system."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import DecimalField, ExpressionWrapper, F, FloatField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast
from django.utils.translation import gettext
from django_stubs_ext import WithAnnotations

from apps.core.exceptions import NotFound, ValidationFailed

from .models import Instrument, Portfolio, Position, PriceBar
from .providers import BAR_COLUMNS


def instrument_by_symbol(*, symbol: str, exchange: str | None = None) -> Instrument:
    """The instrument with ``symbol`` (on ``exchange`` when given; otherwise the only one, or the first by exchange)."""
    if not symbol or not symbol.strip():
        raise ValidationFailed(
            gettext("A symbol is required."), code="invalid", details={"symbol": [gettext("This field is required.")]}
        )
    qs = Instrument.objects.filter(symbol=symbol.strip().upper())
    if exchange:
        qs = qs.filter(exchange=exchange.strip().upper())
    instrument = qs.order_by("exchange").first()
    if instrument is None:
        raise NotFound(gettext("Unknown symbol %(symbol)s.") % {"symbol": repr(symbol)}, code="unknown_symbol")
    return instrument


def bars_frame(
    *,
    instrument: Instrument,
    timeframe: str = "1d",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Bars as a DataFrame (ts aware UTC, float64 prices), oldest first, read with one query into NumPy arrays."""
    sql = [
        "SELECT ts, open, high, low, close, adj_close, volume FROM stock_pricebar",
        "WHERE instrument_id = %s AND timeframe = %s",
    ]
    params: list[Any] = [instrument.pk, timeframe]
    if start is not None:
        sql.append("AND ts >= %s")
        params.append(start)
    if end is not None:
        sql.append("AND ts <= %s")
        params.append(end)
    sql.append("ORDER BY ts")
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        rows = cursor.fetchall()
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
    ts, o, h, lo, c, adj, v = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(list(ts), utc=True),
            "open": np.asarray(o, dtype="float64"),
            "high": np.asarray(h, dtype="float64"),
            "low": np.asarray(lo, dtype="float64"),
            "close": np.asarray(c, dtype="float64"),
            "adj_close": np.asarray([np.nan if x is None else x for x in adj], dtype="float64"),
            "volume": np.asarray(v, dtype="float64"),
        }
    )


def bars_for_run(
    *, instrument: Instrument, timeframe: str, start: dt.datetime | None, end: dt.datetime | None
) -> pd.DataFrame:
    """Bars for a backtest; an empty range or a range without bars is a 400."""
    if start is not None and end is not None and start >= end:
        raise ValidationFailed(
            gettext("The date range is empty (start must be before end)."),
            code="empty_range",
            details={"start": str(start)},
        )
    frame = bars_frame(instrument=instrument, timeframe=timeframe, start=start, end=end)
    if len(frame) < 2:
        raise ValidationFailed(
            gettext("No %(timeframe)s bars for %(symbol)s in the range.")
            % {"timeframe": timeframe, "symbol": instrument.symbol},
            code="no_bars",
            details={"bars": len(frame)},
        )
    return frame


def bar_list(*, symbol: str | None = None) -> QuerySet[PriceBar]:
    qs = PriceBar.objects.select_related("instrument").order_by("instrument_id", "timeframe", "ts")
    if symbol:
        qs = qs.filter(instrument__symbol=symbol.strip().upper())
    return qs


def latest_bar(*, instrument: Instrument, timeframe: str = "1d") -> PriceBar | None:
    return PriceBar.objects.filter(instrument=instrument, timeframe=timeframe).order_by("-ts").first()


def _last_close_subquery(instrument_ref: str) -> Subquery:
    return Subquery(
        PriceBar.objects.filter(instrument_id=OuterRef(instrument_ref), timeframe="1d")
        .order_by("-ts")
        .values("close")[:1],
        output_field=FloatField(),
    )


class PositionValues(TypedDict):
    """What ``position_list`` annotates on each position (None without a daily close)."""

    last_price: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None


if TYPE_CHECKING:  # the two-argument form is for type checkers only
    ValuedPosition = WithAnnotations[Position, PositionValues]


def position_list(*, portfolios: QuerySet[Portfolio]) -> QuerySet[ValuedPosition]:
    """Positions of ``portfolios`` with ``last_price``, ``market_value`` and ``unrealized_pnl`` annotated in SQL."""
    money = DecimalField(max_digits=20, decimal_places=8)
    last = Cast(_last_close_subquery("instrument_id"), output_field=money)
    return (
        Position.objects.filter(portfolio__in=portfolios)
        .select_related("instrument", "portfolio")
        .annotate(last_price=last)
        .annotate(
            market_value=ExpressionWrapper(F("quantity") * F("last_price"), output_field=money),
            unrealized_pnl=ExpressionWrapper(F("quantity") * (F("last_price") - F("avg_cost")), output_field=money),
        )
        .order_by("portfolio_id", "instrument__symbol")
    )


def portfolio_valuation(*, portfolio: Portfolio) -> dict[str, Decimal]:
    """Cash, market value of positions at the last daily close, equity and P&L."""
    positions = list(position_list(portfolios=Portfolio.objects.filter(pk=portfolio.pk)))
    market = sum(((p.market_value or Decimal(0)) for p in positions), Decimal(0))
    unrealized = sum(((p.unrealized_pnl or Decimal(0)) for p in positions), Decimal(0))
    realized = sum((p.realized_pnl for p in positions), Decimal(0))
    q = Decimal("0.01")
    return {
        "cash": portfolio.cash,
        "reserved_cash": portfolio.reserved_cash,
        "market_value": market.quantize(q),
        "equity": (portfolio.cash + market).quantize(q),
        "unrealized_pnl": unrealized.quantize(q),
        "realized_pnl": realized.quantize(q),
    }
