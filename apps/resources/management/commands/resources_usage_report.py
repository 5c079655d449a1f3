"""``manage.py resources_usage_report``: metered usage added up by day, meter, user, API key, group or dimension,
for a period, as a table or CSV (the same selector as ``GET /api/v1/resources/usage/summary/``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.core.csv import render_csv

from ...meters import METERS
from ...selectors.usage import GROUPINGS, usage_rows, usage_summary


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value}") from None


class Command(BaseCommand):
    help = "Print metered usage for a period, grouped by day, meter, user, API key, group or dimension."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", type=_date, help="First day (default: the first of this month).")
        parser.add_argument("--to", dest="end", type=_date, help="Last day (default: today).")
        parser.add_argument("--by", default="meter", help=f"Comma-separated, up to three of: {', '.join(GROUPINGS)}.")
        parser.add_argument("--meter", action="append", choices=sorted(METERS), help="Only these meters.")
        parser.add_argument("--user", help="Only this user (username).")
        parser.add_argument("--group", help="Only members of this group.")
        parser.add_argument("--format", default="table", choices=["table", "csv"])
        parser.add_argument("--output", type=Path, help="Write to this file instead of printing.")

    def handle(self, *args: Any, **options: Any) -> None:
        by = [key.strip() for key in options["by"].split(",") if key.strip()]
        if not by or len(by) > 3 or any(key not in GROUPINGS for key in by):
            raise CommandError(f"--by takes one to three of: {', '.join(GROUPINGS)}")
        today = timezone.now().date()
        start, end = options["start"] or today.replace(day=1), options["end"] or today
        if start > end:
            raise CommandError("--from is after --to")
        user_ids = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}")
            user_ids = [user.pk]
        group_ids = None
        if options["group"]:
            group = Group.objects.filter(name=options["group"]).first()
            if group is None:
                raise CommandError(f"No group {options['group']!r}")
            group_ids = [group.pk]
        rows = usage_rows(start=start, end=end, meters=options["meter"], user_ids=user_ids, group_ids=group_ids)
        result = usage_summary(rows=rows, by=by)
        text = render_csv(result) if options["format"] == "csv" else self._table(result, by, start, end)
        if options["output"]:
            options["output"].write_text(text, encoding="utf-8")
            self.stdout.write(self.style.SUCCESS(f"Wrote {len(result)} rows to {options['output']}"))
        else:
            self.stdout.write(text)

    def _table(self, result: list[dict[str, Any]], by: list[str], start: dt.date, end: dt.date) -> str:
        columns = [*by, "quantity", "reports"]
        cells = [[_cell(row.get(col)) for col in columns] for row in result]
        widths = [max([len(col), *(len(line[i]) for line in cells)]) for i, col in enumerate(columns)]
        lines = [
            f"Usage {start} .. {end} ({len(result)} rows)",
            "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
        ]
        lines += [
            "  ".join(
                v.rjust(w) if i >= len(by) else v.ljust(w) for i, (v, w) in enumerate(zip(line, widths, strict=True))
            )
            for line in cells
        ]
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "normalize"):
        return format(value.normalize(), "f")
    return str(value)
