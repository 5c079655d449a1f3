"""manage.py stock_resample --symbol X --from 1m --to 5m [--to 1h ...] [--exchange XNYS]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.exceptions import ApplicationError
from apps.stock.choices import TIMEFRAME_ORDER, Timeframe
from apps.stock.selectors import instrument_by_symbol
from apps.stock.services.bars import bars_resample_store


class Command(BaseCommand):
    help = (
        "Build bars of higher timeframes from stored bars of one instrument (first open, highest high, lowest low, "
        "last close, summed volume); existing bars of the target timeframe are updated in place."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--exchange")
        parser.add_argument("--from", dest="from_timeframe", required=True, choices=Timeframe.values)
        parser.add_argument(
            "--to", dest="to_timeframes", action="append", required=True, choices=Timeframe.values, help="Repeatable."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            instrument = instrument_by_symbol(symbol=options["symbol"], exchange=options["exchange"])
            for target in sorted(set(options["to_timeframes"]), key=TIMEFRAME_ORDER.index):
                result = bars_resample_store(
                    instrument=instrument, from_timeframe=options["from_timeframe"], to_timeframe=target
                )
                self.stdout.write(
                    f"{instrument.symbol} {options['from_timeframe']} -> {target}: {result['rows']} bars "
                    f"({result['inserted']} new, {result['updated']} updated)"
                )
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.details or ''}".strip()) from None
