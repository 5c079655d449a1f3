"""Demo data: instruments and daily bars from the shared price files (or the test fixtures when the shared folder is
absent), a demo strategy and one finished backtest. Idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from apps.core.roles import MANAGER

from .models import BacktestRun, Instrument, Strategy
from .services.bars import bars_import
from .services.research import backtest_create, backtest_execute, strategy_create

FILES = {
    "ORCL": ("orcl-1995-2014.txt", "Oracle Corporation", "XNAS"),
    "NVDA": ("nvda-1999-2014.txt", "NVIDIA Corporation", "XNAS"),
    "YHOO": ("yhoo-1996-2014.txt", "Yahoo! Inc.", "XNAS"),
}


def _source_dirs() -> list[Path]:
    base = Path(settings.BASE_DIR)
    return [base.parent / "shared" / "data" / "prices", base / "tests" / "stock" / "fixtures"]


def _find(name: str) -> Path | None:
    for folder in _source_dirs():
        if (folder / name).is_file():
            return folder / name
    return None


def seed(*, stdout: Any) -> None:
    for symbol, (filename, name, exchange) in FILES.items():
        if Instrument.objects.filter(symbol=symbol, exchange=exchange, bars__isnull=False).exists():
            continue
        path = _find(filename)
        if path is None:
            stdout.write(f"  stock: {filename} not found, skipping {symbol}")
            continue
        result = bars_import(source=path, symbol=symbol, exchange=exchange)
        Instrument.objects.filter(pk=result["instrument_id"]).update(name=name)
        stdout.write(f"  stock: {symbol} {result['rows']} daily bars")
    owner = get_user_model().objects.filter(username=MANAGER).first() or get_user_model().objects.order_by("id").first()
    orcl = Instrument.objects.filter(symbol="ORCL").first()
    if owner is None or orcl is None:
        return
    strategy = Strategy.objects.filter(owner=owner, name="Demo: ORCL close vs SMA(15)").first()
    if strategy is None:
        strategy = strategy_create(
            owner=owner, name="Demo: ORCL close vs SMA(15)", kind="close_vs_sma", params={"period": 15}
        )
    if not BacktestRun.objects.filter(strategy=strategy).exists():
        run = backtest_create(
            owner=owner,
            strategy=strategy,
            instrument=orcl,
            settings={"commission": {"model": "percent", "rate": 0.001}, "sizing": {"model": "fixed", "quantity": 100}},
            enqueue=False,
        )
        run = backtest_execute(run_id=run.pk)
        stdout.write(f"  stock: demo backtest #{run.pk} {run.status} (Sharpe {run.metrics.get('sharpe')})")
