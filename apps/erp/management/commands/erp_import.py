from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.exceptions import ApplicationError
from apps.erp.services.imports import COLUMNS, master_data_import, spreadsheet_to_csv


class Command(BaseCommand):
    help = (
        "Import master data or opening stock from a CSV (UTF-8) or XLSX file with a header row. Any bad row (or wrong "
        "columns) "
        "imports nothing, unless --skip-errors imports the good rows. Errors are listed with their row numbers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(COLUMNS))
        parser.add_argument("file", type=Path)
        parser.add_argument("--skip-errors", action="store_true", help="Import the good rows, report the bad ones.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            if path.suffix.lower() == ".xlsx":
                content = spreadsheet_to_csv(path.read_bytes())
            else:
                try:
                    content = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    raise CommandError(f"{path} is not UTF-8 text; save it as UTF-8 CSV or XLSX.") from None
            result = master_data_import(kind=options["kind"], content=content, skip_errors=options["skip_errors"])
        except ApplicationError as exc:
            self._print_errors(exc.details)
            raise CommandError(exc.message) from None
        self._print_errors(result["errors"])
        self.stdout.write(self.style.SUCCESS(f"Imported {result['imported']} row(s), skipped {result['skipped']}."))

    def _print_errors(self, details: Any) -> None:
        if isinstance(details, list):
            for item in details:
                self.stderr.write(f"row {item['row']}: {'; '.join(item['errors'])}")
        elif isinstance(details, dict):
            for key, value in details.items():
                self.stderr.write(f"{key}: {value}")
