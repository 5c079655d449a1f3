"""Choices of the stock system."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.choices import JobStatus


class AssetClass(models.TextChoices):
    EQUITY = "equity", _("Equity")
    ETF = "etf", _("ETF")
    INDEX = "index", _("Index")
    FX = "fx", _("FX")
    CRYPTO = "crypto", _("Crypto")
    FUTURE = "future", _("Future")


class Timeframe(models.TextChoices):
    M1 = "1m", _("1 minute")
    M5 = "5m", _("5 minutes")
    H1 = "1h", _("1 hour")
    D1 = "1d", _("1 day")


# pandas offsets of each timeframe, used by resampling
TIMEFRAME_OFFSETS = {"1m": "1min", "5m": "5min", "1h": "1h", "1d": "1D"}
TIMEFRAME_ORDER = ["1m", "5m", "1h", "1d"]
INTRADAY = {"1m", "5m", "1h"}


RunStatus = JobStatus  # backtests and sweeps are core jobs (apps.core.jobs)


class CommissionModel(models.TextChoices):
    NONE = "none", _("None")
    PERCENT = "percent", _("Percent of traded value")
    PER_SHARE = "per_share", _("Per share with a minimum")
    FIXED = "fixed", _("Fixed per trade")


class Sizing(models.TextChoices):
    FIXED = "fixed", _("Fixed quantity")
    PERCENT = "percent", _("Percent of equity")
    ALL_IN = "all_in", _("All in")


class OrderSide(models.TextChoices):
    BUY = "buy", _("Buy")
    SELL = "sell", _("Sell")


class OrderType(models.TextChoices):
    MARKET = "market", _("Market")
    LIMIT = "limit", _("Limit")
    STOP = "stop", _("Stop")


class TimeInForce(models.TextChoices):
    DAY = "day", _("Day (first bar only)")
    GTC = "gtc", _("Good till cancelled")


class OrderStatus(models.TextChoices):
    NEW = "new", _("New")
    PARTIALLY_FILLED = "partially_filled", _("Partially filled")
    FILLED = "filled", _("Filled")
    CANCELLED = "cancelled", _("Cancelled")
    REJECTED = "rejected", _("Rejected")


OPEN_ORDER_STATUSES = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
