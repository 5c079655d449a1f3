"""The one CSV writer: records, pages, report tables with totals, single objects, empty selections, cell values and
the formula guard; the DRF renderer reads the view's options."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from types import SimpleNamespace

from apps.core.csv import CSVRenderer, csv_cell, records_csv, render_csv, table_csv


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_records_take_the_first_records_keys_and_leave_missing_cells_empty():
    text = records_csv([{"a": 1, "b": "x"}, {"a": 2, "c": "ignored"}])
    assert _rows(text) == [["a", "b"], ["1", "x"], ["2", ""]]


def test_an_empty_selection_is_the_header_alone():
    assert render_csv([], fields=("a", "b")) == "a,b\r\n"
    assert render_csv({"results": []}, fields=("a",)) == "a\r\n"
    assert render_csv([]) == ""


def test_a_page_and_a_single_record():
    assert _rows(render_csv({"count": 1, "results": [{"id": 3}]})) == [["id"], ["3"]]
    assert _rows(render_csv({"id": 3, "name": "n"})) == [["id", "name"], ["3", "n"]]
    assert _rows(render_csv({"id": 3, "tags": ["a"]}, single_object="pairs")) == [
        ["key", "value"],
        ["id", "3"],
        ["tags", '["a"]'],
    ]


def test_a_report_table_puts_each_total_under_its_column():
    text = table_csv(["code", "debit", "credit"], [{"code": "1", "debit": "2.00"}], {"debit": "2.00", "count": 1})
    assert _rows(text) == [
        ["code", "debit", "credit"],
        ["1", "2.00", ""],
        ["total", "2.00", ""],
        ["total count", "1", ""],
    ]
    assert render_csv({"columns": ["code"], "rows": [], "totals": {}}) == "code\r\n"


def test_cell_values():
    assert csv_cell(None) == ""
    assert csv_cell(Decimal("1.10")) == "1.10"
    assert csv_cell(dt.date(2026, 1, 2)) == "2026-01-02"
    assert csv_cell(dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)) == "2026-01-02T03:04:00+00:00"
    assert csv_cell({"a": 1}) == '{"a": 1}'
    assert csv_cell(1.5) == 1.5 and csv_cell(True) is True


def test_formulas_are_defused_but_negative_numbers_are_not():
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("+1+2") == "'+1+2"
    assert csv_cell("-12.50") == "-12.50" and csv_cell("plain") == "plain"


def test_errors_render_as_their_message():
    assert render_csv({"error": {"code": "x", "message": "No such thing.", "details": None}}) == "No such thing."


def test_the_renderer_reads_the_views_options():
    view = SimpleNamespace(csv_fields=("a", "b"), csv_single_object="pairs")
    renderer = CSVRenderer()
    assert renderer.render([], renderer_context={"view": view}) == b"a,b\r\n"
    assert renderer.render({"k": "v"}, renderer_context={"view": view}) == b"key,value\r\nk,v\r\n"
    assert renderer.render({"k": "v"}) == b"k\r\nv\r\n"
    assert renderer.media_type == "text/csv" and renderer.format == "csv"
