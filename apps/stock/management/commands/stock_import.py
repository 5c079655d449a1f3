"""manage.py stock_import FILES... [--symbol X] [--timeframe 1d] [--exchange XNYS] [--provider csv] [--columns JSON]
[--resample-to 1h --resample-to 1d]"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.exceptions import ApplicationError
from apps.stock.choices import TIMEFRAME_ORDER, Timeframe
from apps.stock.models import Instrument
from apps.stock.providers import provider_names
from apps.stock.services.bars import bars_import, bars_resample_store


class Command(BaseCommand):
    help = (
        "Import bar files (validated; a file with an invalid row loads nothing). Without --symbol the symbol is the "
        "file name up to its first '-' (orcl-1995-2014.txt -> ORCL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+")
        parser.add_argument("--symbol")
        parser.add_argument("--timeframe", default="1d", choices=Timeframe.values)
        parser.add_argument("--exchange", default="XNYS")
        parser.add_argument("--provider", default="csv", choices=provider_names())
        parser.add_argument("--columns", help='JSON mapping, e.g. {"ts": "Datetime", "adj_close": ""}')
        parser.add_argument("--tz", default="UTC", help="Zone of naive timestamps in the files.")
        parser.add_argument(
            "--resample-to",
            action="append",
            default=[],
            choices=Timeframe.values,
            help="Also build bars of this higher timeframe from the imported ones (repeatable).",
        )

    def _bar(self, done: int, total: int, label: str) -> str:
        width = 30
        filled = int(width * done / total)
        return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}"

    def handle(self, *args: Any, **options: Any) -> None:
        targets = sorted(set(options["resample_to"]), key=TIMEFRAME_ORDER.index)
        lower = [t for t in targets if TIMEFRAME_ORDER.index(t) <= TIMEFRAME_ORDER.index(options["timeframe"])]
        if lower:
            raise CommandError(f"--resample-to needs timeframes above {options['timeframe']}, got {lower}.")
        try:
            columns = json.loads(options["columns"]) if options["columns"] else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--columns is not JSON: {exc}") from None
        files = [Path(f) for f in options["files"]]
        for path in files:
            if not path.is_file():
                raise CommandError(f"No such file: {path}")
        total_rows, started = 0, time.perf_counter()
        for done, path in enumerate(files, start=1):
            symbol = options["symbol"] or path.name.split("-")[0].split(".")[0]
            try:
                result = bars_import(
                    source=path,
                    symbol=symbol,
                    timeframe=options["timeframe"],
                    exchange=options["exchange"],
                    provider=options["provider"],
                    options={"columns": columns, "tz": options["tz"]},
                )
            except ApplicationError as exc:
                raise CommandError(f"{path}: {exc.message} {json.dumps(exc.details, default=str)[:2000]}") from None
            total_rows += result["rows"]
            label = (
                f"{path.name} -> {result['symbol']}: {result['rows']} bars "
                f"({result['inserted']} new, {result['updated']} updated)"
            )
            for target in targets:
                try:
                    resampled = bars_resample_store(
                        instrument=Instrument.objects.get(pk=result["instrument_id"]),
                        from_timeframe=options["timeframe"],
                        to_timeframe=target,
                    )
                except ApplicationError as exc:
                    raise CommandError(f"{path}: resampling to {target}: {exc.message}") from None
                label += f", {resampled['rows']} {target} bars"
            self.stdout.write(self._bar(done, len(files), label))
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Imported {total_rows} bars in {elapsed:.2f}s"))
