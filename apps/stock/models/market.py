"""Market data: instruments and their price bars."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import PermissionHolder, TimeStampedModel
from apps.core.roles import app_permissions

from ..choices import AssetClass, Timeframe


class StockPermission(PermissionHolder):
    """Holds the Stock trading system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("stock")
        verbose_name = _("stock permission")
        verbose_name_plural = _("stock permissions")


class Instrument(TimeStampedModel):
    """A tradable instrument; the symbol is unique per exchange."""

    symbol = models.CharField(max_length=32, verbose_name=_("symbol"))
    name = models.CharField(max_length=200, blank=True, verbose_name=_("name"))
    exchange = models.CharField(
        max_length=16, default="XNYS", help_text=_("Exchange code (MIC), e.g. XNYS, XNAS."), verbose_name=_("exchange")
    )
    currency = models.CharField(max_length=3, default="USD", verbose_name=_("currency"))
    asset_class = models.CharField(
        max_length=16, choices=AssetClass.choices, default=AssetClass.EQUITY, verbose_name=_("asset class")
    )
    lot_size = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.000001"))],
        verbose_name=_("lot size"),
    )
    tick_size = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal("0.00000001"))],
        verbose_name=_("tick size"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))

    class Meta:
        ordering = ["symbol", "exchange"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="stock_instrument_unique_symbol_exchange"),
            models.CheckConstraint(condition=models.Q(lot_size__gt=0), name="stock_instrument_lot_size_positive"),
            models.CheckConstraint(condition=models.Q(tick_size__gt=0), name="stock_instrument_tick_size_positive"),
        ]
        verbose_name = _("instrument")
        verbose_name_plural = _("instruments")

    def __str__(self) -> str:
        return f"{self.symbol} ({self.exchange})"

    def clean(self) -> None:
        self.symbol = (self.symbol or "").strip().upper()
        self.exchange = (self.exchange or "").strip().upper()
        self.currency = (self.currency or "").strip().upper()


class PriceBar(models.Model):
    """One OHLCV bar.

    Prices are ``float`` (PostgreSQL double precision), not ``Decimal``: every consumer of bars — indicators,
    strategies, the backtester, sweeps — works on NumPy float64 arrays, and converting millions of Decimals on each
    read would dominate their run time while adding no precision the data has (vendors publish adjusted prices with
    6+ significant decimals computed in floating point). Money that is *booked* — paper trading cash, fills,
    positions — is ``Decimal``; a fill price taken from a bar is quantized to the instrument's tick size when booked.

    The unique constraint (instrument, timeframe, ts) is also the B-tree index serving range queries.
    """

    id = models.BigAutoField(primary_key=True, verbose_name=_("id"))
    # No database-level foreign key: a per-row referential check (with its row lock on the instrument) would triple
    # the cost of bulk loads. The loader writes only ids of Instrument rows it holds, and deletes cascade in Django.
    # No separate index either: the unique (instrument, timeframe, ts) index serves every lookup by instrument.
    instrument = models.ForeignKey(
        Instrument,
        on_delete=models.CASCADE,
        related_name="bars",
        db_constraint=False,
        db_index=False,
        verbose_name=_("instrument"),
    )
    # byte-order collation: cheaper comparisons in the unique index; the codes are ASCII, so the order is unchanged
    timeframe = models.CharField(
        max_length=3, choices=Timeframe.choices, default=Timeframe.D1, db_collation="C", verbose_name=_("timeframe")
    )
    ts = models.DateTimeField(help_text=_("Start of the bar, UTC."), verbose_name=_("ts"))
    open = models.FloatField(verbose_name=_("open"))
    high = models.FloatField(verbose_name=_("high"))
    low = models.FloatField(verbose_name=_("low"))
    close = models.FloatField(verbose_name=_("close"))
    adj_close = models.FloatField(null=True, blank=True, verbose_name=_("adj close"))
    volume = models.BigIntegerField(default=0, verbose_name=_("volume"))

    class Meta:
        ordering = ["instrument_id", "timeframe", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "timeframe", "ts"], name="stock_pricebar_unique_ts"),
            models.CheckConstraint(condition=models.Q(high__gte=models.F("low")), name="stock_pricebar_high_gte_low"),
            models.CheckConstraint(
                condition=models.Q(close__gte=models.F("low"), close__lte=models.F("high")),
                name="stock_pricebar_close_in_range",
            ),
            models.CheckConstraint(condition=models.Q(volume__gte=0), name="stock_pricebar_volume_non_negative"),
        ]
        verbose_name = _("price bar")
        verbose_name_plural = _("price bars")

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.timeframe} {self.ts:%Y-%m-%d %H:%M}"
