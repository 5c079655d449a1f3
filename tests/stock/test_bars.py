"""Market data: provider, validation, COPY bulk load with upsert, resampling, the import command."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from apps.core.exceptions import ValidationFailed
from apps.core.models import AuditLog
from apps.stock.models import Instrument, PriceBar
from apps.stock.providers import get_provider, provider_names
from apps.stock.selectors import bars_frame
from apps.stock.services.bars import (
    bars_import,
    bars_load,
    bars_load_many,
    bars_resample,
    bars_resample_store,
    bars_validate,
    instrument_get_or_create,
)

from .conftest import INDEX_2006, NVDA, ORCL, ORCL_2015

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def csv_bytes(*rows: str) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode()


def test_registry_lists_csv_and_rejects_unknown() -> None:
    assert "csv" in provider_names()
    with pytest.raises(ValidationFailed) as exc:
        get_provider("nope")
    assert exc.value.code == "unknown_provider"


def test_csv_provider_reads_yahoo_layout(orcl_frame) -> None:
    assert len(orcl_frame) == 5036
    first = orcl_frame.iloc[0]
    assert first["ts"] == pd.Timestamp("1995-01-03", tz="UTC")
    assert (first["open"], first["close"], first["adj_close"], first["volume"]) == (
        2.179012,
        2.117284,
        1.883304,
        36301200.0,
    )
    assert first["row"] == 2


def test_csv_provider_generic_mapping_reads_other_layouts() -> None:
    # the 2015 file has Volume before Adj Close: the header names decide, not positions
    frame = get_provider("csv").fetch(ORCL_2015)
    assert frame.iloc[0]["adj_close"] == 2.0 and frame.iloc[0]["volume"] == 36301200
    custom = b"when;o;h;l;c\n2024-01-02 14:30;10;11;9;10.5\n"
    frame = get_provider("csv").fetch(
        io.BytesIO(custom.replace(b";", b",")),
        columns={"ts": "when", "open": "o", "high": "h", "low": "l", "close": "c", "adj_close": "", "volume": ""},
        tz="America/New_York",
    )
    assert frame.iloc[0]["ts"] == pd.Timestamp("2024-01-02 19:30", tz="UTC")
    assert frame.iloc[0]["volume"] == 0


def test_csv_provider_reports_missing_columns_and_bad_values() -> None:
    with pytest.raises(ValidationFailed) as exc:
        get_provider("csv").fetch(b"Date,Open\n2020-01-01,1\n")
    assert exc.value.details["missing_columns"] == ["High", "Low", "Close"]
    with pytest.raises(ValidationFailed) as exc:
        get_provider("csv").fetch(
            csv_bytes("2020-01-02,1,2,0.5,1,1,10", "not-a-date,1,2,0.5,1,1,10", "2020-01-04,x,2,1,1,1,1")
        )
    assert {(e["row"], e["field"]) for e in exc.value.details["errors"]} == {(3, "ts"), (4, "open")}


def test_validation_reports_each_bad_row() -> None:
    frame = get_provider("csv").fetch(
        csv_bytes(
            "2020-01-02,10,11,9,10,10,100",  # row 2 fine
            "2020-01-03,10,9,11,10,10,100",  # row 3 high < low (and close outside)
            "2020-01-06,10,11,9,12,10,100",  # row 4 close above high
            "2020-01-07,10,11,9,10,10,-5",  # row 5 negative volume
            "2020-01-07,10,11,9,10,10,5",  # row 6 duplicate of row 5's timestamp
        )
    )
    errors = bars_validate(frame)
    found = {(e["row"], e["field"]) for e in errors}
    assert {(3, "high"), (3, "close"), (4, "close"), (5, "volume"), (5, "ts"), (6, "ts")} <= found
    assert not any(e["row"] == 2 for e in errors)


@pytest.mark.django_db
def test_invalid_file_writes_nothing() -> None:
    source = csv_bytes("2020-01-02,10,11,9,10,10,100", "2020-01-03,10,9,11,10,10,100")
    with pytest.raises(ValidationFailed) as exc:
        bars_import(source=source, symbol="BAD")
    assert exc.value.code == "invalid_bars"
    assert exc.value.details["errors"][0]["row"] == 3
    assert PriceBar.objects.count() == 0


@pytest.mark.django_db
def test_bulk_load_with_copy_and_upsert() -> None:
    result = bars_import(source=ORCL, symbol="orcl")
    assert result == {
        "instrument_id": result["instrument_id"],
        "symbol": "ORCL",
        "rows": 5036,
        "inserted": 5036,
        "updated": 0,
    }
    instrument = Instrument.objects.get(symbol="ORCL")
    frame = bars_frame(instrument=instrument, timeframe="1d")
    assert len(frame) == 5036
    assert frame.iloc[-1]["close"] == 44.970001
    assert frame.iloc[-1]["ts"] == pd.Timestamp("2014-12-31", tz="UTC")
    # loading again updates in place (idempotent), and a changed value is taken
    changed = csv_bytes("2014-12-31,45.450001,45.560001,44.970001,45.0,42.3,13269200")
    again = bars_import(source=changed, symbol="ORCL")
    assert (again["inserted"], again["updated"]) == (0, 1)
    assert PriceBar.objects.get(instrument=instrument, ts=dt.datetime(2014, 12, 31, tzinfo=dt.UTC)).close == 45.0
    assert PriceBar.objects.count() == 5036
    assert AuditLog.objects.filter(target_type="stock.instrument", message__startswith="Loaded").count() == 2


@pytest.mark.django_db
def test_range_selection(orcl) -> None:
    frame = bars_frame(
        instrument=orcl,
        timeframe="1d",
        start=dt.datetime(2014, 12, 1, tzinfo=dt.UTC),
        end=dt.datetime(2014, 12, 31, tzinfo=dt.UTC),
    )
    assert len(frame) == 22
    assert frame["ts"].is_monotonic_increasing


def _intraday_frame() -> pd.DataFrame:
    ts = pd.date_range("2024-01-02 14:30", periods=120, freq="1min", tz="UTC")
    close = 100 + pd.Series(range(120), dtype="float64") / 10
    return pd.DataFrame(
        {
            "ts": ts,
            "open": close - 0.05,
            "high": close + 0.1,
            "low": close - 0.1,
            "close": close,
            "adj_close": close,
            "volume": 10.0,
        }
    )


def test_resample_minutes_to_hours() -> None:
    hourly = bars_resample(_intraday_frame(), to_timeframe="1h")
    assert list(hourly["ts"]) == [pd.Timestamp(f"2024-01-02 {h}:00", tz="UTC") for h in (14, 15, 16)]
    first = hourly.iloc[0]  # 14:30..14:59: 30 bars
    assert first["open"] == pytest.approx(99.95)
    assert first["close"] == pytest.approx(102.9)
    assert first["high"] == pytest.approx(103.0)
    assert first["low"] == pytest.approx(99.9)
    assert first["volume"] == 300
    assert hourly["volume"].sum() == 1200


@pytest.mark.django_db
def test_resample_store_and_reject_lower_timeframe() -> None:
    instrument, _ = instrument_get_or_create(symbol="MIN")
    bars_load(instrument=instrument, timeframe="1m", frame=_intraday_frame())
    result = bars_resample_store(instrument=instrument, from_timeframe="1m", to_timeframe="5m")
    assert result["inserted"] == 24
    with pytest.raises(ValidationFailed):
        bars_resample_store(instrument=instrument, from_timeframe="1h", to_timeframe="5m")


@pytest.mark.django_db
def test_import_command_with_progress() -> None:
    out = io.StringIO()
    call_command("stock_import", str(NVDA), "--symbol", "nvda", "--timeframe", "1d", stdout=out)
    assert "NVDA" in out.getvalue() and "4012" in out.getvalue()
    assert PriceBar.objects.filter(instrument__symbol="NVDA").count() == 4012
    out = io.StringIO()
    call_command("stock_import", str(INDEX_2006), str(ORCL), stdout=out)  # symbols from the file names
    assert set(Instrument.objects.values_list("symbol", flat=True)) == {"NVDA", "2006", "ORCL"}
    with pytest.raises(CommandError):
        call_command("stock_import", str(ORCL), "--timeframe", "2d", stdout=io.StringIO())


@pytest.mark.django_db
def test_import_and_resample_commands(tmp_path) -> None:
    minutes = _intraday_frame()
    path = tmp_path / "min-2024.csv"
    minutes.assign(Date=minutes["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).rename(
        columns={"open": "Open", "high": "High", "low": "Low", "close": "Close", "adj_close": "Adj Close"}
    ).rename(columns={"volume": "Volume"})[["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(
        path, index=False
    )
    out = io.StringIO()
    call_command("stock_import", str(path), "--timeframe", "1m", "--resample-to", "1h", stdout=out)
    assert "120 bars" in out.getvalue() and "3 1h bars" in out.getvalue()
    instrument = Instrument.objects.get(symbol="MIN")
    hourly = bars_frame(instrument=instrument, timeframe="1h")
    assert len(hourly) == 3 and hourly["volume"].sum() == 1200
    out = io.StringIO()
    call_command("stock_resample", "--symbol", "min", "--from", "1m", "--to", "5m", "--to", "1d", stdout=out)
    assert "1m -> 5m: 24 bars" in out.getvalue() and "1m -> 1d: 1 bars" in out.getvalue()
    assert PriceBar.objects.filter(instrument=instrument, timeframe="1d").get().volume == 1200
    with pytest.raises(CommandError):
        call_command("stock_resample", "--symbol", "min", "--from", "1h", "--to", "5m", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("stock_resample", "--symbol", "nope", "--from", "1m", "--to", "1h", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("stock_import", str(path), "--timeframe", "1h", "--resample-to", "5m", stdout=io.StringIO())


@pytest.mark.django_db
def test_large_first_load_rebuilds_the_indexes_and_keeps_every_value(orcl_frame, settings) -> None:
    settings.STOCK_BAR_REBUILD_MIN_ROWS = 1  # take the drop-copy-rebuild path on a small load
    first, _ = instrument_get_or_create(symbol="AAA")
    second, _ = instrument_get_or_create(symbol="BBB")
    with_nulls = orcl_frame.copy()
    with_nulls.loc[::7, "adj_close"] = np.nan  # sent as NULL in the binary COPY
    result = bars_load_many(items=[(first, orcl_frame), (second, with_nulls)], timeframe="1d")
    assert (result["inserted"], result["updated"]) == (2 * 5036, 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'stock_pricebar' ORDER BY 1")
        assert [r[0] for r in cursor.fetchall()] == ["stock_pricebar_pkey", "stock_pricebar_unique_ts"]
    for instrument, source in ((first, orcl_frame), (second, with_nulls)):
        stored = bars_frame(instrument=instrument, timeframe="1d")
        for column in ("open", "high", "low", "close", "adj_close", "volume"):
            np.testing.assert_array_equal(stored[column].to_numpy(), source[column].to_numpy(dtype="float64"))
        assert (stored["ts"] == source["ts"]).all()
    assert PriceBar.objects.filter(instrument=second, adj_close__isnull=True).count() == len(with_nulls.iloc[::7])
    with pytest.raises(IntegrityError), transaction.atomic():
        bar = PriceBar.objects.filter(instrument=first).first()
        PriceBar.objects.create(instrument=first, timeframe="1d", ts=bar.ts, open=1, high=1, low=1, close=1, volume=0)
    # the next load of the same instruments is an upsert, the table keeps its constraint
    again = bars_load_many(items=[(first, orcl_frame.tail(3))], timeframe="1d")
    assert (again["inserted"], again["updated"]) == (0, 3)
