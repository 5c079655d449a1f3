"""Celery tasks of the stock system (queue ``backtest``). Thin: load by id, call the service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from .services import paper, research


@shared_task(name="stock.run_backtest", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def run_backtest(run_id: int) -> str:
    return research.backtest_execute(run_id=run_id).status


@shared_task(name="stock.run_sweep", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def run_sweep(sweep_id: int) -> str:
    return research.sweep_execute(sweep_id=sweep_id).status


@shared_task(name="stock.match_orders", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def match_orders(instrument_ids: list[int] | None = None) -> dict[str, int]:
    return paper.orders_match(instrument_ids=instrument_ids)


@shared_task(name="stock.run_autotraders", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def run_autotraders() -> dict[str, int]:
    """Beat job: every enabled auto-trader evaluates its latest bar once (a bar already evaluated is skipped)."""
    from .services.autotrade import autotraders_run

    return autotraders_run()
