"""Strategies, backtests and sweeps: validation at creation (nothing written on bad input), execution by tasks."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from typing import Any

import numpy as np
from django.db import transaction
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import ValidationFailed
from apps.core.jobs import job_finish, job_progress, job_start, jobs_transition
from apps.core.queueing import enqueue_on_commit
from apps.core.services import audit_record
from apps.resources.choices import Meter
from apps.resources.services.metering import meter_record
from apps.resources.services.quotas import quota_check

from .. import conf
from ..backtest.chart import equity_chart_svg
from ..backtest.config import config_from_input
from ..backtest.engine import run_backtest, run_portfolio_backtest
from ..backtest.performance import daily_equity, drawdown
from ..choices import RunStatus, Timeframe
from ..metrics import BACKTESTS
from ..models import BacktestRun, BacktestTrade, Instrument, Strategy, Sweep
from ..selectors import bars_for_run, instrument_by_symbol
from ..strategies import BarData, get_kind

logger = logging.getLogger(__name__)

RANKABLE = {
    "sharpe": True,
    "sortino": True,
    "total_return": True,
    "cagr": True,
    "calmar": True,
    "profit_factor": True,
    "win_rate": True,
    "max_drawdown": True,  # drawdowns are negative: higher is better
    "final_equity": True,
    "volatility": False,
}


# --- Strategies -----------------------------------------------------------------------------------------------------


def strategy_create(*, owner: Any, name: str, kind: str, params: Any = None, description: str = "") -> Strategy:
    validated = get_kind(kind).validate(params)
    strategy = Strategy(owner=owner, name=name, kind=kind, params=validated, description=description)
    strategy.full_clean()
    with transaction.atomic():
        strategy.save()
        audit_record(action=AuditAction.CREATE, actor=owner, target=strategy, changes={"kind": [None, kind]})
    return strategy


def strategy_update(*, strategy: Strategy, actor: Any, **fields: Any) -> Strategy:
    kind = fields.get("kind", strategy.kind)
    params = fields.get("params", strategy.params if kind == strategy.kind else {})
    fields["params"] = get_kind(kind).validate(params)
    before = {k: getattr(strategy, k) for k in fields}
    for key, value in fields.items():
        setattr(strategy, key, value)
    strategy.full_clean()
    with transaction.atomic():
        strategy.save()
        changes = {k: [before[k], v] for k, v in fields.items() if before[k] != v}
        audit_record(action=AuditAction.UPDATE, actor=actor, target=strategy, changes=changes)
    return strategy


# --- Backtests ------------------------------------------------------------------------------------------------------


def _selection(
    *, symbol: str | None, instrument: Instrument | None, timeframe: str, start: Any, end: Any
) -> tuple[Instrument, int]:
    if timeframe not in Timeframe.values:
        raise ValidationFailed(
            gettext("Unknown timeframe."), code="invalid_timeframe", details={"timeframe": Timeframe.values}
        )
    instrument = instrument or instrument_by_symbol(symbol=symbol or "")
    bars = bars_for_run(instrument=instrument, timeframe=timeframe, start=start, end=end)
    return instrument, len(bars)


MAX_BACKTEST_INSTRUMENTS = 50


def _instruments_selection(
    *,
    symbol: str | None,
    symbols: list[str] | None,
    instrument: Instrument | None,
    instruments: list[Instrument] | None,
    timeframe: str,
    start: Any,
    end: Any,
) -> tuple[list[Instrument], int]:
    """The instruments of a backtest (one, or several as a portfolio), each with bars in the range; total bars."""
    if symbols is not None and symbol:
        raise ValidationFailed(
            gettext("Give either a symbol or a list of symbols."),
            details={"symbols": [gettext("Not together with symbol.")]},
        )
    if instruments is None and instrument is not None:
        instruments = [instrument]
    if instruments is None and symbols is not None:
        if not isinstance(symbols, list) or not symbols or not all(isinstance(x, str) for x in symbols):
            raise ValidationFailed(
                gettext("Invalid symbols."), details={"symbols": [gettext("A non-empty list of symbols.")]}
            )
        if len(symbols) > MAX_BACKTEST_INSTRUMENTS:
            raise ValidationFailed(
                gettext("Too many instruments."),
                details={
                    "symbols": [
                        gettext("At most %(MAX_BACKTEST_INSTRUMENTS)s.")
                        % {"MAX_BACKTEST_INSTRUMENTS": MAX_BACKTEST_INSTRUMENTS}
                    ]
                },
            )
        normalized = [x.strip().upper() for x in symbols]
        repeated = sorted({x for x in normalized if normalized.count(x) > 1})
        if repeated:
            raise ValidationFailed(
                gettext("Repeated symbols."),
                details={"symbols": [gettext("Repeated: %(value)s.") % {"value": ", ".join(repeated)}]},
            )
        instruments = [instrument_by_symbol(symbol=x) for x in normalized]
    if instruments is None:
        selected, bars = _selection(symbol=symbol, instrument=None, timeframe=timeframe, start=start, end=end)
        return [selected], bars
    if not instruments:
        raise ValidationFailed(
            gettext("Invalid symbols."), details={"symbols": [gettext("A non-empty list of symbols.")]}
        )
    total = 0
    for item in instruments:
        total += _selection(symbol=None, instrument=item, timeframe=timeframe, start=start, end=end)[1]
    return instruments, total


def backtest_create(
    *,
    owner: Any,
    strategy: Strategy | None = None,
    kind: str | None = None,
    params: Any = None,
    symbol: str | None = None,
    symbols: list[str] | None = None,
    instrument: Instrument | None = None,
    instruments: list[Instrument] | None = None,
    timeframe: str = "1d",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    settings: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> BacktestRun:
    """Validate everything now (a 400 writes nothing), store a pending run, and queue ``stock.run_backtest``.
    ``symbols`` (or ``instruments``) selects several instruments, run as equal sleeves of one portfolio."""
    if strategy is not None:
        kind, params = strategy.kind, strategy.params if params is None else params
    if not kind:
        raise ValidationFailed(
            gettext("Give a strategy or a kind."), details={"kind": [gettext("This field is required.")]}
        )
    validated = get_kind(kind).validate(params)
    config = config_from_input(settings or {})
    cpu_quota_check(owner=owner)
    selected, bar_count = _instruments_selection(
        symbol=symbol,
        symbols=symbols,
        instrument=instrument,
        instruments=instruments,
        timeframe=timeframe,
        start=start,
        end=end,
    )
    run = BacktestRun(
        owner=owner,
        strategy=strategy,
        instrument=selected[0],
        timeframe=timeframe,
        start=start,
        end=end,
        config={
            "kind": kind,
            "params": validated,
            "bars": bar_count,
            "instrument_ids": [item.pk for item in selected],
            "symbols": [item.symbol for item in selected],
            **config.as_dict(),
        },
    )
    run.full_clean()
    with transaction.atomic():
        run.save()
        run.instruments.set(selected)
        audit_record(action=AuditAction.CREATE, actor=owner, target=run, message="Backtest queued")
        if enqueue:
            enqueue_on_commit("stock.run_backtest", run.pk)
    return run


def cpu_quota_check(*, owner: Any) -> None:
    """A backtest or sweep is refused (429) before it is queued once its owner has no CPU-seconds left this period;
    the CPU time it then takes is recorded when it ends (``cpu_record``), whatever its outcome."""
    quota_check(user=owner, amounts={Meter.COMPUTE_SECONDS: 1})


def cpu_record(*, owner_id: int, since: float, kind: str) -> None:
    meter_record(
        meter=Meter.COMPUTE_SECONDS,
        quantity=round(max(0.0, time.process_time() - since), 3),
        user=owner_id,
        dimension=kind,
    )


def backtest_execute(*, run_id: int) -> BacktestRun:
    """Run a pending backtest and store its results. Idempotent: a finished (or cancelled) run is returned as it is;
    a run cancelled while it computes keeps no results."""
    started = job_start(model=BacktestRun, pk=run_id)
    if started is None:
        return BacktestRun.objects.get(pk=run_id)
    run = started
    cpu = time.process_time()
    try:
        config = config_from_input({k: v for k, v in run.config.items() if k not in RUN_SELECTION_KEYS})
        kind = get_kind(run.config["kind"])
        params = kind.validate(run.config["params"])
        ids = run.config.get("instrument_ids") or [run.instrument_id]
        by_id = Instrument.objects.in_bulk(ids)
        selected = [by_id[pk] for pk in ids]
        datas = {
            item.pk: BarData(bars_for_run(instrument=item, timeframe=run.timeframe, start=run.start, end=run.end))
            for item in selected
        }
        if len(selected) == 1:
            data = datas[selected[0].pk]
            result = run_backtest(data, kind, params, config)
            days, values = daily_equity(data.days, result.equity)
            metrics, trades = result.metrics, result.trades
        else:
            combined = run_portfolio_backtest(datas, kind, params, config)
            days, values, metrics, trades = combined.days, combined.equity, combined.metrics, combined.trades
        dd = drawdown(np.concatenate([[config.initial_cash], values]))[1:]
        day_labels = [str(d) for d in days]
        symbols = ", ".join(item.symbol for item in selected)
        with transaction.atomic():
            run.metrics = metrics
            run.equity = [
                [d, round(float(v), 2), round(float(x), 6)] for d, v, x in zip(day_labels, values, dd, strict=True)
            ]
            run.chart_svg = equity_chart_svg(
                day_labels, values.tolist(), title=f"{symbols} {kind.name} {run.config['params']}"
            )
            if job_finish(job=run, to=RunStatus.SUCCEEDED, result={"trades": len(trades)}):
                BacktestTrade.objects.filter(run=run).delete()
                BacktestTrade.objects.bulk_create(
                    [BacktestTrade(run=run, **_trade_fields(t, default_instrument=run.instrument_id)) for t in trades],
                    batch_size=1000,
                )
                audit_record(action=AuditAction.ACTION, target=run, message="Backtest finished")
    except Exception as exc:
        logger.exception("Backtest %s failed", run_id)
        jobs_transition(BacktestRun.objects.filter(pk=run_id), to=RunStatus.FAILED, error=exc)
    cpu_record(owner_id=run.owner_id, since=cpu, kind="backtest")
    run.refresh_from_db()
    BACKTESTS.labels(kind="backtest", status=run.status).inc()
    return run


RUN_SELECTION_KEYS = ("kind", "params", "bars", "instrument_ids", "symbols")


def _trade_fields(trade: dict[str, Any], *, default_instrument: int) -> dict[str, Any]:
    return {
        "instrument_id": trade.get("instrument", default_instrument),
        "seq": trade["seq"],
        "side": trade["side"],
        "quantity": float(trade["quantity"]),
        "entry_ts": trade["entry_ts"].to_pydatetime(),
        "entry_price": float(trade["entry_price"]),
        "exit_ts": trade["exit_ts"].to_pydatetime() if trade.get("exit_ts") is not None else None,
        "exit_price": float(trade["exit_price"]) if trade.get("exit_price") is not None else None,
        "gross_pnl": float(trade["gross_pnl"]),
        "commission": float(trade["commission"]),
        "pnl": float(trade["pnl"]),
        "is_open": bool(trade["is_open"]),
    }


# --- Sweeps ---------------------------------------------------------------------------------------------------------


def _axis(name: str, spec: Any) -> list[float]:
    if isinstance(spec, dict) and {"start", "stop"} <= set(spec):
        start, stop, step = spec["start"], spec["stop"], spec.get("step", 1)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (start, stop, step)) or step <= 0:
            raise ValidationFailed(
                gettext("Invalid range."), code="invalid_grid", details={name: [gettext("start/stop/step numbers.")]}
            )
        count = int((stop - start) / step + 1e-9) + 1
        if count <= 0 or count > 10_000:
            raise ValidationFailed(
                gettext("Invalid range."), code="invalid_grid", details={name: [gettext("Empty or too long.")]}
            )
        return [start + i * step for i in range(count)]
    if isinstance(spec, list) and spec:
        return list(spec)
    raise ValidationFailed(
        gettext("Each grid axis is a list or {start, stop, step}."),
        code="invalid_grid",
        details={name: [gettext("Invalid axis.")]},
    )


def sweep_combinations(kind_name: str, grid: Any) -> list[dict[str, Any]]:
    """Every valid parameter set of the grid (sets the kind rejects, such as slow <= fast, are skipped)."""
    kind = get_kind(kind_name)
    if not isinstance(grid, dict) or not grid:
        raise ValidationFailed(gettext("The grid must be a non-empty object."), code="invalid_grid")
    known = {p.name for p in kind.params}
    unknown = sorted(set(grid) - known)
    if unknown:
        raise ValidationFailed(gettext("Unknown grid parameters."), code="invalid_grid", details={"grid": unknown})
    names = sorted(grid)
    axes = [_axis(name, grid[name]) for name in names]
    combos = []
    for values in itertools.product(*axes):
        try:
            combos.append(kind.validate(dict(zip(names, values, strict=True))))
        except ValidationFailed:
            continue
    if not combos:
        raise ValidationFailed(gettext("The grid has no valid parameter set."), code="invalid_grid")
    if len(combos) > conf.sweep_max_combinations():
        raise ValidationFailed(
            gettext("The grid has %(combos)s parameter sets; at most %(value)s.")
            % {"combos": len(combos), "value": conf.sweep_max_combinations()},
            code="invalid_grid",
        )
    return combos


def sweep_create(
    *,
    owner: Any,
    kind: str,
    grid: Any,
    symbol: str | None = None,
    instrument: Instrument | None = None,
    timeframe: str = "1d",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    settings: dict[str, Any] | None = None,
    rank_by: str = "sharpe",
    enqueue: bool = True,
) -> Sweep:
    if rank_by not in RANKABLE:
        raise ValidationFailed(
            gettext("Unknown ranking metric."), code="invalid", details={"rank_by": sorted(RANKABLE)}
        )
    combos = sweep_combinations(kind, grid)
    config = config_from_input(settings or {})
    instrument, bar_count = _selection(symbol=symbol, instrument=instrument, timeframe=timeframe, start=start, end=end)
    cpu_quota_check(owner=owner)
    sweep = Sweep(
        owner=owner,
        kind=kind,
        grid=grid,
        rank_by=rank_by,
        instrument=instrument,
        timeframe=timeframe,
        start=start,
        end=end,
        total=len(combos),
        config={"bars": bar_count, **config.as_dict()},
    )
    sweep.full_clean()
    with transaction.atomic():
        sweep.save()
        audit_record(action=AuditAction.CREATE, actor=owner, target=sweep, message=f"Sweep of {len(combos)} queued")
        if enqueue:
            enqueue_on_commit("stock.run_sweep", sweep.pk)
    return sweep


def sweep_rank(results: list[dict[str, Any]], rank_by: str) -> list[dict[str, Any]]:
    sign = 1.0 if RANKABLE[rank_by] else -1.0

    def key(item: dict[str, Any]) -> tuple[int, float]:
        value = item["metrics"].get(rank_by)
        return (0, -sign * value) if value is not None else (1, 0.0)

    return sorted(results, key=key)


def sweep_execute(*, sweep_id: int, progress_every: int = 50) -> Sweep:
    """Run every parameter set on bars read once (indicators shared through the BarData memo); progress is saved
    every ``progress_every`` sets."""
    started = job_start(model=Sweep, pk=sweep_id)
    if started is None:
        return Sweep.objects.get(pk=sweep_id)
    sweep = started
    cpu = time.process_time()
    Sweep.objects.filter(pk=sweep_id).update(done=0)
    sweep.done = 0
    try:
        frame = bars_for_run(instrument=sweep.instrument, timeframe=sweep.timeframe, start=sweep.start, end=sweep.end)
        config = config_from_input({k: v for k, v in sweep.config.items() if k != "bars"})
        combos = sweep_combinations(sweep.kind, sweep.grid)
        results = sweep_run(BarData(frame), sweep.kind, combos, config, sweep_id=sweep.pk, every=progress_every)
        with transaction.atomic():
            sweep.results = sweep_rank(results, sweep.rank_by)
            sweep.done, sweep.total = len(results), len(combos)
            if job_finish(job=sweep, to=RunStatus.SUCCEEDED, result={"runs": len(results)}):
                audit_record(action=AuditAction.ACTION, target=sweep, message="Sweep finished")
    except SweepStopped:
        pass  # cancelled (or swept) while running: the partial results are dropped
    except Exception as exc:
        logger.exception("Sweep %s failed", sweep_id)
        jobs_transition(Sweep.objects.filter(pk=sweep_id), to=RunStatus.FAILED, error=exc)
    cpu_record(owner_id=sweep.owner_id, since=cpu, kind="sweep")
    sweep.refresh_from_db()
    BACKTESTS.labels(kind="sweep", status=sweep.status).inc()
    return sweep


def sweep_run(
    data: BarData,
    kind_name: str,
    combos: list[dict[str, Any]],
    config: Any,
    *,
    sweep_id: int | None = None,
    every: int = 50,
) -> list[dict[str, Any]]:
    kind = get_kind(kind_name)
    results = []
    for i, params in enumerate(combos, start=1):
        result = run_backtest(data, kind, params, config, trade_times=False)
        results.append({"params": params, "metrics": result.metrics})
        if sweep_id is not None and i % every == 0:
            percent = 100 * i / len(combos)
            if not job_progress(model=Sweep, pk=sweep_id, percent=percent, message=f"{i} of {len(combos)}", done=i):
                raise SweepStopped
    return results


class SweepStopped(Exception):
    """The sweep is no longer running (cancelled, or failed by the stuck-job sweep) while its worker computes."""
