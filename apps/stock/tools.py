"""The stock system's tools: ``stock_quote`` (the latest close and its change) and ``stock_latest_bars`` (the most
recent OHLCV bars). Instruments and prices are company-wide: everyone holding stock.read sees them."""

from __future__ import annotations

from typing import Any

from apps.core.tools import ToolContext, register_tool

from .choices import Timeframe
from .models import Instrument, PriceBar
from .selectors import bar_list, instrument_by_symbol

STOCK_QUOTE = "stock_quote"
STOCK_LATEST_BARS = "stock_latest_bars"
MAX_BARS = 100

_INSTRUMENT = {
    "symbol": {"type": "string", "minLength": 1, "description": "Ticker, e.g. AAPL."},
    "exchange": {"type": "string", "description": "Exchange code (optional), e.g. XNAS."},
}


def _instrument(arguments: dict[str, Any]) -> Instrument:
    return instrument_by_symbol(symbol=arguments["symbol"], exchange=arguments.get("exchange") or None)


def _recent(instrument: Instrument, timeframe: str, count: int) -> list[PriceBar]:
    """The ``count`` latest bars, newest first."""
    return list(
        bar_list(symbol=instrument.symbol).filter(instrument=instrument, timeframe=timeframe).order_by("-ts")[:count]
    )


def stock_quote(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    instrument = _instrument(arguments)
    bars = _recent(instrument, Timeframe.D1, 2)
    if not bars:
        return {"symbol": instrument.symbol, "exchange": instrument.exchange, "price": None, "note": "No prices yet."}
    last = bars[0]
    previous = bars[1].close if len(bars) > 1 else None
    change = last.close - previous if previous is not None else None
    return {
        "symbol": instrument.symbol,
        "exchange": instrument.exchange,
        "currency": instrument.currency,
        "price": last.close,
        "as_of": last.ts.isoformat(),
        "change": round(change, 6) if change is not None else None,
        "change_percent": round(change / previous * 100, 4) if change is not None and previous else None,
    }


def stock_latest_bars(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    instrument = _instrument(arguments)
    timeframe = arguments.get("timeframe", Timeframe.D1.value)
    bars = _recent(instrument, timeframe, arguments.get("count", 20))
    return {
        "symbol": instrument.symbol,
        "exchange": instrument.exchange,
        "currency": instrument.currency,
        "timeframe": timeframe,
        "bars": [
            {"ts": b.ts.isoformat(), "open": b.open, "high": b.high, "low": b.low, "close": b.close, "volume": b.volume}
            for b in reversed(bars)
        ],
    }


def register_tools() -> None:
    register_tool(
        name=STOCK_QUOTE,
        description="Latest daily close of an instrument and its change against the previous close.",
        parameters={
            "type": "object",
            "properties": _INSTRUMENT,
            "required": ["symbol"],
            "additionalProperties": False,
        },
        permission="stock.read",
        handler=stock_quote,
    )
    register_tool(
        name=STOCK_LATEST_BARS,
        description="The most recent price bars (open, high, low, close, volume) of an instrument, oldest first.",
        parameters={
            "type": "object",
            "properties": {
                **_INSTRUMENT,
                "timeframe": {"type": "string", "enum": list(Timeframe.values), "default": Timeframe.D1.value},
                "count": {"type": "integer", "minimum": 1, "maximum": MAX_BARS, "default": 20},
            },
            "required": ["symbol"],
            "additionalProperties": False,
        },
        permission="stock.read",
        handler=stock_latest_bars,
    )
