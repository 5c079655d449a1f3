"""Paper trading: portfolios, orders, fills and positions. Booked money is Decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

from apps.core.models import OwnedModel, TimeStampedModel

from ..choices import OrderSide, OrderStatus, OrderType, Timeframe, TimeInForce
from .market import Instrument

MONEY: dict[str, Any] = {"max_digits": 20, "decimal_places": 2}
QTY: dict[str, Any] = {"max_digits": 20, "decimal_places": 6}
PRICE: dict[str, Any] = {"max_digits": 20, "decimal_places": 8}


class Portfolio(OwnedModel):
    """Paper money. ``reserved_cash`` is held by open buy orders so two orders never spend the same cash."""

    name = models.CharField(max_length=120)
    base_currency = models.CharField(max_length=3, default="USD")
    cash = models.DecimalField(**MONEY, default=Decimal("0.00"))
    reserved_cash = models.DecimalField(**MONEY, default=Decimal("0.00"))
    allow_margin = models.BooleanField(default=False)
    max_position_pct = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("100"), help_text="Largest position, percent of equity."
    )
    max_order_value = models.DecimalField(**MONEY, null=True, blank=True, help_text="Empty: no limit.")

    class Meta(OwnedModel.Meta):
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(reserved_cash__gte=0), name="stock_portfolio_reserved_gte_0"),
            models.CheckConstraint(
                condition=models.Q(max_position_pct__gt=0, max_position_pct__lte=100),
                name="stock_portfolio_max_position_pct_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def available_cash(self) -> Decimal:
        return self.cash - self.reserved_cash


class Order(TimeStampedModel):
    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="orders")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    timeframe = models.CharField(max_length=3, choices=Timeframe.choices, default=Timeframe.D1)
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    order_type = models.CharField(max_length=6, choices=OrderType.choices, default=OrderType.MARKET)
    quantity = models.DecimalField(**QTY)
    limit_price = models.DecimalField(**PRICE, null=True, blank=True)
    stop_price = models.DecimalField(**PRICE, null=True, blank=True)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices, default=TimeInForce.GTC)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.NEW, db_index=True)
    filled_quantity = models.DecimalField(**QTY, default=Decimal("0"))
    avg_fill_price = models.DecimalField(**PRICE, null=True, blank=True)
    reserved_cash = models.DecimalField(**MONEY, default=Decimal("0.00"))
    reason = models.CharField(max_length=300, blank=True, help_text="Why it was rejected or cancelled.")
    after_ts = models.DateTimeField(help_text="The order fills on bars after this timestamp (the latest at placing).")
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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

    def __str__(self) -> str:
        return f"#{self.pk} {self.side} {self.quantity.normalize()} {self.order_type} ({self.status})"

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity


class Fill(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fills")
    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="fills")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    bar_ts = models.DateTimeField()
    quantity = models.DecimalField(**QTY)
    price = models.DecimalField(**PRICE)
    commission = models.DecimalField(**MONEY, default=Decimal("0.00"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity.normalize()} @ {self.price.normalize()}"


class Position(models.Model):
    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="positions")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QTY, default=Decimal("0"))
    avg_cost = models.DecimalField(**PRICE, default=Decimal("0"))
    realized_pnl = models.DecimalField(**MONEY, default=Decimal("0.00"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["portfolio_id", "instrument_id"]
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "instrument"], name="stock_position_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="stock_position_long_only"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id}: {self.quantity.normalize()}"
