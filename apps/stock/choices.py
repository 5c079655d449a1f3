"""Choices of the stock system."""

from django.db import models

from apps.core.choices import JobStatus


class AssetClass(models.TextChoices):
    EQUITY = "equity", "Equity"
    ETF = "etf", "ETF"
    INDEX = "index", "Index"
    FX = "fx", "FX"
    CRYPTO = "crypto", "Crypto"
    FUTURE = "future", "Future"


class Timeframe(models.TextChoices):
    M1 = "1m", "1 minute"
    M5 = "5m", "5 minutes"
    H1 = "1h", "1 hour"
    D1 = "1d", "1 day"


# pandas offsets of each timeframe, used by resampling
TIMEFRAME_OFFSETS = {"1m": "1min", "5m": "5min", "1h": "1h", "1d": "1D"}
TIMEFRAME_ORDER = ["1m", "5m", "1h", "1d"]
INTRADAY = {"1m", "5m", "1h"}


RunStatus = JobStatus  # backtests and sweeps are core jobs (apps.core.jobs)


class CommissionModel(models.TextChoices):
    NONE = "none", "None"
    PERCENT = "percent", "Percent of traded value"
    PER_SHARE = "per_share", "Per share with a minimum"
    FIXED = "fixed", "Fixed per trade"


class Sizing(models.TextChoices):
    FIXED = "fixed", "Fixed quantity"
    PERCENT = "percent", "Percent of equity"
    ALL_IN = "all_in", "All in"


class OrderSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"
    STOP = "stop", "Stop"


class TimeInForce(models.TextChoices):
    DAY = "day", "Day (first bar only)"
    GTC = "gtc", "Good till cancelled"


class OrderStatus(models.TextChoices):
    NEW = "new", "New"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"


OPEN_ORDER_STATUSES = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
