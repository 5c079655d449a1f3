"""Auto-trading: a strategy attached to a paper portfolio that places orders from its latest signal."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import OwnedModel

from ..choices import Timeframe
from .market import Instrument
from .paper import QTY, Order, Portfolio
from .research import Strategy


class AutoTradeOutcome(models.TextChoices):
    ORDERED = "ordered", _("Order placed")
    NO_SIGNAL = "no_signal", _("No signal")
    NO_POSITION = "no_position", _("Exit signal, nothing held")
    REJECTED = "rejected", _("Order rejected by the pre-trade checks")
    FORBIDDEN = "forbidden", _("Owner may not trade")
    NO_BARS = "no_bars", _("No bars")


class AutoTrader(OwnedModel):
    """Runs on the beat schedule while ``enabled`` (off by default). Each new bar is evaluated once: a long entry
    signal at its close buys ``quantity``, an exit signal sells the whole position; the order goes through the normal
    pre-trade checks and fills at the next bar's open. ``owner`` is the portfolio's owner."""

    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="autotraders", verbose_name=_("portfolio")
    )
    strategy = models.ForeignKey(
        Strategy, on_delete=models.CASCADE, related_name="autotraders", verbose_name=_("strategy")
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+", verbose_name=_("instrument"))
    timeframe = models.CharField(
        max_length=3, choices=Timeframe.choices, default=Timeframe.D1, verbose_name=_("timeframe")
    )
    quantity = models.DecimalField(
        **QTY, validators=[MinValueValidator(Decimal("0.000001"))], verbose_name=_("quantity")
    )
    enabled = models.BooleanField(default=False, verbose_name=_("enabled"))
    last_bar_ts = models.DateTimeField(
        null=True, blank=True, help_text=_("The latest bar already evaluated."), verbose_name=_("last bar ts")
    )
    last_signal_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Bar of the latest buy/sell signal."), verbose_name=_("last signal at")
    )
    last_outcome = models.CharField(
        max_length=12, choices=AutoTradeOutcome.choices, blank=True, verbose_name=_("last outcome")
    )
    last_reason = models.CharField(max_length=300, blank=True, verbose_name=_("last reason"))
    last_run_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last run at"))
    last_order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("last order")
    )

    class Meta(OwnedModel.Meta):
        ordering = ["portfolio_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "strategy", "instrument", "timeframe"], name="stock_autotrader_unique"
            ),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="stock_autotrader_quantity_positive"),
        ]
        verbose_name = _("auto trader")
        verbose_name_plural = _("auto traders")

    def __str__(self) -> str:
        return f"{self.strategy_id} on {self.portfolio_id} ({'on' if self.enabled else 'off'})"
