"""Settings of the stock system, with their defaults (override in Django settings / the environment)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def periods_per_year() -> int:
    """Trading days per year, used to annualise daily returns."""
    return int(_get("STOCK_PERIODS_PER_YEAR", 252))


def risk_free_rate() -> float:
    return float(_get("STOCK_RISK_FREE_RATE", 0.0))


def paper_commission_pct() -> Decimal:
    """Paper trading commission, percent of traded value (0.1 = 0.1 %)."""
    return Decimal(str(_get("STOCK_PAPER_COMMISSION_PCT", "0")))


def paper_market_buffer_pct() -> Decimal:
    """Headroom reserved above the last close for market and stop buys (price may gap up at the next open)."""
    return Decimal(str(_get("STOCK_PAPER_MARKET_BUFFER_PCT", "5")))


def paper_volume_participation() -> Decimal:
    """Largest share of a bar's volume one order may take (the rest fills on later bars: partial fills)."""
    return Decimal(str(_get("STOCK_PAPER_VOLUME_PARTICIPATION", "0.1")))


def market_hours_utc() -> tuple[str, str]:
    """Regular session (UTC, weekdays) of exchanges without an entry in apps.stock.markets (intraday orders)."""
    value = str(_get("STOCK_MARKET_HOURS_UTC", "13:30-20:00"))
    start, end = value.split("-")
    return start.strip(), end.strip()


def market_sessions() -> dict[str, dict[str, object]]:
    """Extra or overriding exchange sessions: MIC -> {"tz": "Europe/Madrid", "sessions": ["09:00-17:30"]}."""
    return dict(_get("STOCK_MARKET_SESSIONS", {}) or {})


def sweep_max_combinations() -> int:
    return int(_get("STOCK_SWEEP_MAX_COMBINATIONS", 5000))


def csv_export_max_rows() -> int:
    return int(_get("STOCK_CSV_EXPORT_MAX_ROWS", 200_000))


def bar_rebuild_min_rows() -> int:
    """A first load of at least this many bars (and at least as many as the bar table holds) is copied with the bar
    table's indexes dropped and rebuilt in the same transaction, which is about twice as fast as index inserts."""
    return int(_get("STOCK_BAR_REBUILD_MIN_ROWS", 200_000))
