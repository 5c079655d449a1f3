import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.core.csv import render_csv
from apps.erp.api.common import plain
from apps.erp.selectors import reports
from apps.erp.selectors.dashboard import dashboard_kpis

REPORTS = {
    "trial-balance": lambda o: reports.trial_balance(date_from=o["date_from"], date_to=o["date_to"]),
    "profit-and-loss": lambda o: reports.profit_and_loss(date_from=o["date_from"], date_to=o["date_to"]),
    "balance-sheet": lambda o: reports.balance_sheet(date_to=o["date_to"] or timezone.localdate()),
    "ar-aging": lambda o: reports.aging(kind="customer", as_of=o["date_to"] or timezone.localdate()),
    "ap-aging": lambda o: reports.aging(kind="supplier", as_of=o["date_to"] or timezone.localdate()),
    "sales-by-customer": lambda o: reports.sales_by(group="customer", date_from=o["date_from"], date_to=o["date_to"]),
    "sales-by-product": lambda o: reports.sales_by(group="product", date_from=o["date_from"], date_to=o["date_to"]),
    "sales-by-month": lambda o: reports.sales_by(group="month", date_from=o["date_from"], date_to=o["date_to"]),
    "inventory-valuation": lambda o: reports.inventory_valuation(),
    "dashboard": lambda o: dashboard_kpis(period=o["period"], ref=o["date_to"]),
}


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value}") from None


class Command(BaseCommand):
    help = "Print or write an ERP report for a period (table, CSV or JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("report", choices=sorted(REPORTS))
        parser.add_argument("--from", dest="date_from", type=_date)
        parser.add_argument("--to", dest="date_to", type=_date, help="End of the period / as-of date.")
        parser.add_argument("--period", default="month", choices=["day", "week", "month", "quarter", "year"])
        parser.add_argument("--format", default="table", choices=["table", "csv", "json"])
        parser.add_argument("--output", type=Path, help="Write to this file instead of printing.")

    def handle(self, *args: Any, **options: Any) -> None:
        data = plain(REPORTS[options["report"]](options))
        if options["format"] == "json":
            text = json.dumps(data, indent=2)
        elif options["format"] == "csv":
            text = render_csv(data, single_object="pairs")
        else:
            text = self._table(data)
        if options["output"]:
            options["output"].write_text(text, encoding="utf-8")
            self.stdout.write(self.style.SUCCESS(f"Wrote {options['output']}"))
        else:
            self.stdout.write(text)

    def _table(self, data: dict[str, Any]) -> str:
        if "rows" not in data:
            return "\n".join(f"{k:<22} {v}" for k, v in data.items())
        columns = data["columns"]
        widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in data["rows"]]) for c in columns}
        lines = [data["title"], "  ".join(c.ljust(widths[c]) for c in columns)]
        lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in data["rows"]]
        lines += [f"total {k}: {v}" for k, v in data["totals"].items()]
        return "\n".join(lines)
