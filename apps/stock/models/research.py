"""Research: strategies, backtest runs with their trades, and parameter sweeps."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import JobModel, OwnedModel

from ..choices import Timeframe
from .market import Instrument


class Strategy(OwnedModel):
    """A strategy kind (see apps.stock.strategies) with its parameters, validated against the kind's schema."""

    name = models.CharField(max_length=120, verbose_name=_("name"))
    kind = models.CharField(max_length=40, db_index=True, verbose_name=_("kind"))
    params = models.JSONField(default=dict, blank=True, verbose_name=_("params"))
    description = models.TextField(blank=True, verbose_name=_("description"))

    class Meta(OwnedModel.Meta):
        ordering = ["name", "id"]
        verbose_name_plural = _("strategies")
        verbose_name = _("strategy")

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class RunBase(JobModel):
    """What a backtest and a sweep share: the market data selection; the job's state, progress and timestamps come
    from the core job base (apps.core.jobs)."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+", verbose_name=_("instrument"))
    timeframe = models.CharField(
        max_length=3, choices=Timeframe.choices, default=Timeframe.D1, verbose_name=_("timeframe")
    )
    start = models.DateTimeField(null=True, blank=True, verbose_name=_("start"))
    end = models.DateTimeField(null=True, blank=True, verbose_name=_("end"))
    config = models.JSONField(
        default=dict, blank=True, help_text=_("Snapshot of every parameter of the run."), verbose_name=_("config")
    )

    class Meta(JobModel.Meta):
        abstract = True


class BacktestRun(RunBase):
    """A backtest of one strategy on one or more instruments. ``instrument`` is the first of ``instruments``; several
    instruments run as equal sleeves of one portfolio (apps.stock.backtest.engine.run_portfolio_backtest)."""

    strategy = models.ForeignKey(
        Strategy, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs", verbose_name=_("strategy")
    )
    instruments = models.ManyToManyField(Instrument, related_name="+", blank=True, verbose_name=_("instruments"))
    metrics = models.JSONField(default=dict, blank=True, verbose_name=_("metrics"))
    equity = models.JSONField(
        default=list, blank=True, help_text=_("Daily [date, equity, drawdown] rows."), verbose_name=_("equity")
    )
    chart_svg = models.TextField(blank=True, verbose_name=_("chart (SVG)"))

    class Meta(RunBase.Meta):
        ordering = ["-created_at", "-id"]
        verbose_name = _("backtest run")
        verbose_name_plural = _("backtest runs")

    def __str__(self) -> str:
        return f"Backtest #{self.pk} {self.config.get('kind', '')} ({self.status})"


class BacktestTrade(models.Model):
    """One round trip of a backtest (a position opened and closed, or still open at the end)."""

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="trades", verbose_name=_("run"))
    instrument = models.ForeignKey(
        Instrument, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("instrument")
    )
    seq = models.PositiveIntegerField(verbose_name=_("sequence"))
    side = models.CharField(max_length=5, verbose_name=_("side"))
    quantity = models.FloatField(verbose_name=_("quantity"))
    entry_ts = models.DateTimeField(verbose_name=_("entry time"))
    entry_price = models.FloatField(verbose_name=_("entry price"))
    exit_ts = models.DateTimeField(null=True, blank=True, verbose_name=_("exit time"))
    exit_price = models.FloatField(null=True, blank=True, verbose_name=_("exit price"))
    gross_pnl = models.FloatField(default=0, verbose_name=_("gross P&L"))
    commission = models.FloatField(default=0, verbose_name=_("commission"))
    pnl = models.FloatField(default=0, help_text=_("Net of entry and exit commission."), verbose_name=_("P&L"))
    is_open = models.BooleanField(default=False, verbose_name=_("is open"))

    class Meta:
        ordering = ["run_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="stock_backtesttrade_unique_seq")]
        verbose_name = _("backtest trade")
        verbose_name_plural = _("backtest trades")

    def __str__(self) -> str:
        return f"{self.side} {self.quantity:g} @ {self.entry_price:.4f}"


class Sweep(RunBase):
    """A grid of parameters of one strategy kind, each run as a backtest; results ranked by ``rank_by``."""

    kind = models.CharField(max_length=40, verbose_name=_("kind"))
    grid = models.JSONField(default=dict, help_text=_("param -> list of values."), verbose_name=_("grid"))
    rank_by = models.CharField(max_length=32, default="sharpe", verbose_name=_("rank by"))
    total = models.PositiveIntegerField(default=0, validators=[MinValueValidator(0)], verbose_name=_("total"))
    done = models.PositiveIntegerField(default=0, verbose_name=_("done"))
    results = models.JSONField(
        default=list, blank=True, help_text=_("[{params, metrics}] best first."), verbose_name=_("results")
    )

    class Meta(RunBase.Meta):
        ordering = ["-created_at", "-id"]
        verbose_name = _("sweep")
        verbose_name_plural = _("sweeps")

    def __str__(self) -> str:
        return f"Sweep #{self.pk} {self.kind} ({self.status})"

    @property
    def progress(self) -> float:
        return round(self.done / self.total, 4) if self.total else 0.0
