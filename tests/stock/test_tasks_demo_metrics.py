"""Tasks (idempotent), the demo seed, and the Prometheus metrics."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from apps.core.metrics import refresh_business_metrics
from apps.stock import demo, tasks
from apps.stock.models import BacktestRun, Instrument, Strategy
from apps.stock.services import paper
from apps.stock.services.research import backtest_create, sweep_create


@pytest.mark.django_db
def test_backtest_task_is_idempotent_and_counted(admin_user, index_2006) -> None:
    before = REGISTRY.get_sample_value("stock_backtests_total", {"kind": "backtest", "status": "succeeded"}) or 0
    run = backtest_create(owner=admin_user, kind="buy_and_hold", instrument=index_2006, enqueue=False)
    assert tasks.run_backtest.delay(run.pk).get() == "succeeded"
    run.refresh_from_db()
    trades = list(run.trades.values_list("pk", flat=True))
    assert tasks.run_backtest.delay(run.pk).get() == "succeeded"  # second delivery: nothing re-run
    assert list(run.trades.values_list("pk", flat=True)) == trades
    after = REGISTRY.get_sample_value("stock_backtests_total", {"kind": "backtest", "status": "succeeded"})
    assert after >= before + 1


@pytest.mark.django_db
def test_sweep_task_reports_progress(admin_user, index_2006) -> None:
    sweep = sweep_create(
        owner=admin_user,
        kind="close_vs_sma",
        grid={"period": {"start": 2, "stop": 40, "step": 2}},
        instrument=index_2006,
        enqueue=False,
    )
    assert sweep.total == 20 and sweep.progress == 0
    assert tasks.run_sweep.delay(sweep.pk).get() == "succeeded"
    sweep.refresh_from_db()
    assert (sweep.done, sweep.progress, len(sweep.results)) == (20, 1.0, 20)
    sharpe = [r["metrics"]["sharpe"] for r in sweep.results if r["metrics"]["sharpe"] is not None]
    assert sharpe == sorted(sharpe, reverse=True)


@pytest.mark.django_db
def test_paper_metrics_collector(admin_user, index_2006) -> None:
    portfolio = paper.portfolio_create(owner=admin_user, name="m", cash=Decimal("5000"))
    paper.order_place(portfolio=portfolio, actor=admin_user, instrument=index_2006, side="buy", quantity=1)
    refresh_business_metrics()  # what the beat job does; the scrape then exports the snapshot
    assert REGISTRY.get_sample_value("stock_paper_orders", {"status": "new"}) == 1
    assert REGISTRY.get_sample_value("stock_portfolio_equity", {"portfolio": str(portfolio.pk)}) == 5000.0


@pytest.mark.django_db
def test_demo_seed_is_idempotent(role_users) -> None:
    out = io.StringIO()
    demo.seed(stdout=out)
    assert set(Instrument.objects.values_list("symbol", flat=True)) >= {"ORCL", "NVDA", "YHOO"}
    run = BacktestRun.objects.get()
    assert run.status == "succeeded" and run.metrics["trades"] > 100
    demo.seed(stdout=io.StringIO())
    assert BacktestRun.objects.count() == 1 and Strategy.objects.count() == 1
