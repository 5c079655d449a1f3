"""Paper trading: portfolios, orders, fills and positions. Booked money is Decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import OwnedModel, TimeStampedModel

from ..choices import OrderSide, OrderStatus, OrderType, Timeframe, TimeInForce
from .market import Instrument

MONEY: dict[str, Any] = {"max_digits": 20, "decimal_places": 2}
QTY: dict[str, Any] = {"max_digits": 20, "decimal_places": 6}
PRICE: dict[str, Any] = {"max_digits": 20, "decimal_places": 8}


class Portfolio(OwnedModel):
    """Paper money. ``reserved_cash`` is held by open buy orders so two orders never spend the same cash."""

    name = models.CharField(max_length=120, verbose_name=_("name"))
    base_currency = models.CharField(max_length=3, default="USD", verbose_name=_("base currency"))
    cash = models.DecimalField(**MONEY, default=Decimal("0.00"), verbose_name=_("cash"))
    reserved_cash = models.DecimalField(**MONEY, default=Decimal("0.00"), verbose_name=_("reserved cash"))
    allow_margin = models.BooleanField(default=False, verbose_name=_("allow margin"))
    max_position_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("100"),
        help_text=_("Largest position, percent of equity."),
        verbose_name=_("max position pct"),
    )
    max_order_value = models.DecimalField(
        **MONEY, null=True, blank=True, help_text=_("Empty: no limit."), verbose_name=_("max order value")
    )

    class Meta(OwnedModel.Meta):
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(reserved_cash__gte=0), name="stock_portfolio_reserved_gte_0"),
            models.CheckConstraint(
                condition=models.Q(max_position_pct__gt=0, max_position_pct__lte=100),
                name="stock_portfolio_max_position_pct_range",
            ),
        ]
        verbose_name = _("portfolio")
        verbose_name_plural = _("portfolios")

    def __str__(self) -> str:
        return self.name

    @property
    def available_cash(self) -> Decimal:
        return self.cash - self.reserved_cash


class Order(TimeStampedModel):
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="orders", verbose_name=_("portfolio")
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+", verbose_name=_("instrument"))
    timeframe = models.CharField(
        max_length=3, choices=Timeframe.choices, default=Timeframe.D1, verbose_name=_("timeframe")
    )
    side = models.CharField(max_length=4, choices=OrderSide.choices, verbose_name=_("side"))
    order_type = models.CharField(
        max_length=6, choices=OrderType.choices, default=OrderType.MARKET, verbose_name=_("order type")
    )
    quantity = models.DecimalField(**QTY, verbose_name=_("quantity"))
    limit_price = models.DecimalField(**PRICE, null=True, blank=True, verbose_name=_("limit price"))
    stop_price = models.DecimalField(**PRICE, null=True, blank=True, verbose_name=_("stop price"))
    time_in_force = models.CharField(
        max_length=3, choices=TimeInForce.choices, default=TimeInForce.GTC, verbose_name=_("time in force")
    )
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.NEW, db_index=True, verbose_name=_("status")
    )
    filled_quantity = models.DecimalField(**QTY, default=Decimal("0"), verbose_name=_("filled quantity"))
    avg_fill_price = models.DecimalField(**PRICE, null=True, blank=True, verbose_name=_("avg fill price"))
    reserved_cash = models.DecimalField(**MONEY, default=Decimal("0.00"), verbose_name=_("reserved cash"))
    reason = models.CharField(
        max_length=300, blank=True, help_text=_("Why it was rejected or cancelled."), verbose_name=_("reason")
    )
    after_ts = models.DateTimeField(
        help_text=_("The order fills on bars after this timestamp (the latest at placing)."), verbose_name=_("after ts")
    )
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("placed by"),
    )

    class Meta(TimeStampedModel.Meta):
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="stock_order_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(filled_quantity__gte=0, filled_quantity__lte=models.F("quantity")),
                name="stock_order_filled_within_quantity",
            ),
        ]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return f"#{self.pk} {self.side} {self.quantity.normalize()} {self.order_type} ({self.status})"

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity


class Fill(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fills", verbose_name=_("order"))
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="fills", verbose_name=_("portfolio")
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+", verbose_name=_("instrument"))
    side = models.CharField(max_length=4, choices=OrderSide.choices, verbose_name=_("side"))
    bar_ts = models.DateTimeField(verbose_name=_("bar ts"))
    quantity = models.DecimalField(**QTY, verbose_name=_("quantity"))
    price = models.DecimalField(**PRICE, verbose_name=_("price"))
    commission = models.DecimalField(**MONEY, default=Decimal("0.00"), verbose_name=_("commission"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("fill")
        verbose_name_plural = _("fills")

    def __str__(self) -> str:
        return f"{self.side} {self.quantity.normalize()} @ {self.price.normalize()}"


class Position(models.Model):
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="positions", verbose_name=_("portfolio")
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+", verbose_name=_("instrument"))
    quantity = models.DecimalField(**QTY, default=Decimal("0"), verbose_name=_("quantity"))
    avg_cost = models.DecimalField(**PRICE, default=Decimal("0"), verbose_name=_("avg cost"))
    realized_pnl = models.DecimalField(**MONEY, default=Decimal("0.00"), verbose_name=_("realized pnl"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["portfolio_id", "instrument_id"]
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "instrument"], name="stock_position_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="stock_position_long_only"),
        ]
        verbose_name = _("position")
        verbose_name_plural = _("positions")

    def __str__(self) -> str:
        return f"{self.instrument_id}: {self.quantity.normalize()}"
