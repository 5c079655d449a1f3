"""Research: strategies, backtest runs with their trades, and parameter sweeps."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from apps.core.models import JobModel, OwnedModel

from ..choices import Timeframe
from .market import Instrument


class Strategy(OwnedModel):
    """A strategy kind (see apps.stock.strategies) with its parameters, validated against the kind's schema."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=40, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)

    class Meta(OwnedModel.Meta):
        ordering = ["name", "id"]
        verbose_name_plural = "strategies"

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class RunBase(JobModel):
    """What a backtest and a sweep share: the market data selection; the job's state, progress and timestamps come
    from the core job base (apps.core.jobs)."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    timeframe = models.CharField(max_length=3, choices=Timeframe.choices, default=Timeframe.D1)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Snapshot of every parameter of the run.")

    class Meta(JobModel.Meta):
        abstract = True


class BacktestRun(RunBase):
    """A backtest of one strategy on one or more instruments. ``instrument`` is the first of ``instruments``; several
    instruments run as equal sleeves of one portfolio (apps.stock.backtest.engine.run_portfolio_backtest)."""

    strategy = models.ForeignKey(Strategy, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    instruments = models.ManyToManyField(Instrument, related_name="+", blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    equity = models.JSONField(default=list, blank=True, help_text="Daily [date, equity, drawdown] rows.")
    chart_svg = models.TextField(blank=True)

    class Meta(RunBase.Meta):
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Backtest #{self.pk} {self.config.get('kind', '')} ({self.status})"


class BacktestTrade(models.Model):
    """One round trip of a backtest (a position opened and closed, or still open at the end)."""

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="trades")
    instrument = models.ForeignKey(Instrument, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveIntegerField()
    side = models.CharField(max_length=5)
    quantity = models.FloatField()
    entry_ts = models.DateTimeField()
    entry_price = models.FloatField()
    exit_ts = models.DateTimeField(null=True, blank=True)
    exit_price = models.FloatField(null=True, blank=True)
    gross_pnl = models.FloatField(default=0)
    commission = models.FloatField(default=0)
    pnl = models.FloatField(default=0, help_text="Net of entry and exit commission.")
    is_open = models.BooleanField(default=False)

    class Meta:
        ordering = ["run_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="stock_backtesttrade_unique_seq")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity:g} @ {self.entry_price:.4f}"


class Sweep(RunBase):
    """A grid of parameters of one strategy kind, each run as a backtest; results ranked by ``rank_by``."""

    kind = models.CharField(max_length=40)
    grid = models.JSONField(default=dict, help_text="param -> list of values.")
    rank_by = models.CharField(max_length=32, default="sharpe")
    total = models.PositiveIntegerField(default=0, validators=[MinValueValidator(0)])
    done = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=list, blank=True, help_text="[{params, metrics}] best first.")

    class Meta(RunBase.Meta):
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Sweep #{self.pk} {self.kind} ({self.status})"

    @property
    def progress(self) -> float:
        return round(self.done / self.total, 4) if self.total else 0.0
