"""The one CSV writer of every export (API ``?format=csv``, report commands): a DRF renderer and the functions
behind it. Imports parse CSV where they are (each app knows its columns); exports come here.

Shapes rendered:

* a list of records (dicts), or a page of them (``{"results": [...]}``): a header line, then one line per record;
  an empty selection is the header alone, from the view's ``csv_fields``, so an export is never an untyped empty body;
* a report table ``{"columns": [...], "rows": [...], "totals": {...}}``: the columns, the rows, then one
  ``total`` line with each sum under its column (totals of other names follow as ``total <name>`` lines);
* one dict: a one-line record, or ``key,value`` lines with ``single_object="pairs"`` (view attribute
  ``csv_single_object``);
* an error body: its message (the API's exception handler answers errors as JSON anyway).

Cells: ``None`` is empty, dates are ISO 8601, Decimals keep their digits, nested values are JSON; a text cell that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first, and not a number) gets a leading
``'`` (CSV injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from rest_framework.renderers import BaseRenderer

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_cell(value: Any) -> Any:
    """One cell's text (numbers are left to the csv module, which writes them as ``str`` does)."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not _is_number(text):
        return "'" + text
    return text


def csv_lines(rows: Iterable[Sequence[Any]], *, header: Sequence[str] | None = None) -> str:
    """CSV text of ``rows`` (sequences of cells) under an optional header line."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header is not None:
        writer.writerow([csv_cell(name) for name in header])
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()


def records_csv(records: Sequence[Mapping[str, Any]], *, fields: Sequence[str] = ()) -> str:
    """Records under a header: the first record's keys (later records' other keys are left out, missing ones empty);
    without records, ``fields`` alone. No fields and no records: an empty text."""
    columns = list(records[0]) if records else list(fields)
    if not columns:
        return ""
    return csv_lines(([record.get(column) for column in columns] for record in records), header=columns)


def table_csv(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any] | None = None
) -> str:
    """A report table: its rows, then the totals (those named like a column, after the first, on one ``total``
    line; the others as ``total <name>`` lines, padded to the width of the table)."""
    columns = list(columns)
    lines: list[list[Any]] = [[row.get(column, "") for column in columns] for row in rows]
    totals = totals or {}
    in_columns = {k: v for k, v in totals.items() if k in columns and k != columns[0]}
    if in_columns:
        lines.append(["total", *(in_columns.get(column, "") for column in columns[1:])])
    for key, value in totals.items():
        if key not in in_columns:
            lines.append([f"total {key}", value, *([""] * (len(columns) - 2))])
    return csv_lines(lines, header=columns)


def render_csv(data: Any, *, fields: Sequence[str] = (), single_object: str = "record") -> str:
    """CSV text of any of the shapes in the module docstring."""
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        return str(data["error"].get("message", ""))
    if isinstance(data, Mapping) and "columns" in data and "rows" in data:
        return table_csv(data["columns"], data["rows"], data.get("totals"))
    if isinstance(data, Mapping) and "results" in data:
        data = data["results"]
    if isinstance(data, Mapping):
        if single_object == "pairs":
            return csv_lines(data.items(), header=["key", "value"])
        return records_csv([data], fields=fields)
    records = [row for row in data or [] if isinstance(row, Mapping)]
    return records_csv(records, fields=fields)


class CSVRenderer(BaseRenderer):
    """``?format=csv`` for any view. A view may set ``csv_fields`` (the header of an empty selection) and
    ``csv_single_object`` ("record" or "pairs")."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        view = (renderer_context or {}).get("view")
        text = render_csv(
            data,
            fields=tuple(getattr(view, "csv_fields", ())),
            single_object=getattr(view, "csv_single_object", "record"),
        )
        return text.encode(self.charset)
