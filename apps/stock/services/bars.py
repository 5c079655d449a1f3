"""Market data writes: instruments, validated bulk loads of bars (PostgreSQL COPY + upsert), resampling."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction

from apps.core.choices import AuditAction
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.services import audit_record

from ..choices import TIMEFRAME_OFFSETS, TIMEFRAME_ORDER, Timeframe
from ..models import Instrument
from ..providers import BAR_COLUMNS, get_provider

MAX_REPORTED_ERRORS = 200


def instrument_get_or_create(
    *, symbol: str, exchange: str = "XNYS", actor: Any = None, **defaults: Any
) -> tuple[Instrument, bool]:
    symbol, exchange = symbol.strip().upper(), exchange.strip().upper()
    if not symbol:
        raise ValidationFailed("A symbol is required.", details={"symbol": ["This field is required."]})
    instrument = Instrument.objects.filter(symbol=symbol, exchange=exchange).first()
    if instrument is not None:
        return instrument, False
    instrument = Instrument(symbol=symbol, exchange=exchange, name=defaults.pop("name", symbol), **defaults)
    instrument.full_clean()
    instrument.save()
    audit_record(action=AuditAction.CREATE, actor=actor, target=instrument, message="Instrument created")
    return instrument, True


def bars_validate(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Row-level errors of a bar frame (vectorised): high < low, open/close outside [low, high], negative volume,
    duplicate timestamps, non-positive prices. ``row`` is the source position when the frame has one."""
    rows = frame["row"].to_numpy() if "row" in frame else np.arange(len(frame)) + 1
    o, h, lo, c = (frame[k].to_numpy(dtype="float64") for k in ("open", "high", "low", "close"))
    v = frame["volume"].to_numpy(dtype="float64")
    checks = [
        ("high", h < lo, "high is below low"),
        ("close", (c < lo) | (c > h), "close is outside [low, high]"),
        ("open", (o < lo) | (o > h), "open is outside [low, high]"),
        ("volume", v < 0, "volume is negative"),
        ("low", lo <= 0, "prices must be positive"),
        ("ts", frame["ts"].duplicated(keep=False).to_numpy(), "duplicate timestamp"),
    ]
    errors: list[dict[str, Any]] = []
    for field, mask, message in checks:
        errors.extend({"row": int(r), "field": field, "message": message} for r in rows[mask])
    errors.sort(key=lambda e: (e["row"], e["field"]))
    return errors


def _check(frame: pd.DataFrame) -> None:
    errors = bars_validate(frame)
    if errors:
        raise ValidationFailed(
            f"{len(errors)} invalid bar(s); nothing was written.",
            code="invalid_bars",
            details={"count": len(errors), "errors": errors[:MAX_REPORTED_ERRORS]},
        )


_STAGE_DDL = """
CREATE TEMP TABLE stock_bar_stage (
    instrument_id bigint, timeframe varchar(3), ts timestamptz,
    open double precision, high double precision, low double precision, close double precision,
    adj_close double precision, volume bigint
) ON COMMIT DROP
"""

_COLUMNS = "instrument_id, timeframe, ts, open, high, low, close, adj_close, volume"

_UPSERT = f"""
WITH written AS (
    INSERT INTO stock_pricebar ({_COLUMNS})
    SELECT {_COLUMNS} FROM stock_bar_stage
    ON CONFLICT (instrument_id, timeframe, ts) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        adj_close = EXCLUDED.adj_close, volume = EXCLUDED.volume
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*), count(*) FILTER (WHERE inserted) FROM written
"""


def _copy_text(frame: pd.DataFrame, instrument_id: int, timeframe: str) -> str:
    """Tab-separated COPY text. Floats are written with their shortest exact repr (no precision lost)."""
    # naive UTC: Django sets the connection's time zone to UTC, so PostgreSQL reads these as UTC instants
    stamps = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC").tz_localize(None)
    out = pd.DataFrame(
        {
            "instrument_id": instrument_id,
            "timeframe": timeframe,
            "ts": stamps,
            "open": frame["open"].to_numpy(),
            "high": frame["high"].to_numpy(),
            "low": frame["low"].to_numpy(),
            "close": frame["close"].to_numpy(),
            "adj_close": frame["adj_close"].to_numpy(),
            "volume": frame["volume"].round().astype("int64").to_numpy(),
        }
    )
    return out.to_csv(sep="\t", header=False, index=False, na_rep="\\N")


def _raw_cursor(django_cursor: Any) -> Any:
    cursor = django_cursor.cursor  # the psycopg 3 cursor under Django's wrappers
    while hasattr(cursor, "cursor") and not hasattr(cursor, "copy"):
        cursor = cursor.cursor
    return cursor


def _copy_upsert(chunks: Iterable[str], *, instrument_ids: list[int], timeframe: str) -> dict[str, int]:
    """Load COPY text. A first load of these instruments/timeframe goes straight into stock_pricebar with COPY (the
    constraints still check every row); otherwise the rows go to a temporary stage table and are upserted."""
    connection.ensure_connection()
    with connection.cursor() as django_cursor:
        cursor = _raw_cursor(django_cursor)
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM stock_pricebar WHERE instrument_id = ANY(%s) AND timeframe = %s)",
            [instrument_ids, timeframe],
        )
        if not cursor.fetchone()[0]:
            rows = 0
            with cursor.copy(f"COPY stock_pricebar ({_COLUMNS}) FROM STDIN") as copy:
                for chunk in chunks:
                    copy.write(chunk)
                    rows += chunk.count("\n")
            return {"rows": rows, "inserted": rows, "updated": 0}
        cursor.execute("DROP TABLE IF EXISTS pg_temp.stock_bar_stage")
        cursor.execute(_STAGE_DDL)
        with cursor.copy("COPY stock_bar_stage FROM STDIN") as copy:
            for chunk in chunks:
                copy.write(chunk)
        cursor.execute(_UPSERT)
        total, inserted = cursor.fetchone()
        cursor.execute("DROP TABLE stock_bar_stage")
    return {"rows": total, "inserted": inserted, "updated": total - inserted}


def _check_timeframe(timeframe: str) -> None:
    if timeframe not in Timeframe.values:
        raise ValidationFailed(
            f"Unknown timeframe {timeframe!r}.", code="invalid_timeframe", details={"timeframe": Timeframe.values}
        )


def bars_load(*, instrument: Instrument, timeframe: str, frame: pd.DataFrame, actor: Any = None) -> dict[str, int]:
    """Validate and load a bar frame for one instrument. All or nothing: an invalid row writes nothing."""
    return bars_load_many(items=[(instrument, frame)], timeframe=timeframe, actor=actor)


def bars_load_many(
    *, items: list[tuple[Instrument, pd.DataFrame]], timeframe: str, actor: Any = None
) -> dict[str, int]:
    """Validate every frame first, then load them all with one COPY in one transaction."""
    _check_timeframe(timeframe)
    for instrument, frame in items:
        if frame.empty:
            raise ValidationFailed(f"No bars for {instrument.symbol}.", code="no_bars")
        missing = [c for c in BAR_COLUMNS if c not in frame.columns]
        if missing:
            raise ValidationFailed("Bar frame lacks columns.", code="invalid_bars", details={"missing": missing})
        _check(frame)
    with transaction.atomic():
        result = _copy_upsert(
            (_copy_text(frame, instrument.pk, timeframe) for instrument, frame in items),
            instrument_ids=[instrument.pk for instrument, _ in items],
            timeframe=timeframe,
        )
        for instrument, frame in items:
            audit_record(
                action=AuditAction.ACTION,
                actor=actor,
                target=instrument,
                changes={"timeframe": [None, timeframe], "bars": [None, len(frame)]},
                message=f"Loaded {len(frame)} {timeframe} bars",
            )
        _match_after_load([instrument.pk for instrument, _ in items])
    return result


def _match_after_load(instrument_ids: list[int]) -> None:
    """New bars may fill open paper orders: queue the matcher once the bars are committed."""
    from ..tasks import match_orders
    from .paper import open_orders_exist

    if open_orders_exist(instrument_ids=instrument_ids):
        transaction.on_commit(lambda: match_orders.delay(instrument_ids))


def bars_import(
    *,
    source: Any,
    symbol: str,
    timeframe: str = "1d",
    exchange: str = "XNYS",
    provider: str = "csv",
    options: dict[str, Any] | None = None,
    create_instrument: bool = True,
    actor: Any = None,
) -> dict[str, Any]:
    """Read ``source`` through ``provider`` and load it for ``symbol`` (the one function shared by the command, the
    admin import page and the demo data)."""
    _check_timeframe(timeframe)
    frame = get_provider(provider).fetch(source, **(options or {}))
    if create_instrument:
        instrument, _ = instrument_get_or_create(symbol=symbol, exchange=exchange, actor=actor)
    else:
        instrument = Instrument.objects.filter(symbol=symbol.upper(), exchange=exchange.upper()).first()
        if instrument is None:
            raise NotFound(f"Unknown instrument {symbol}.", code="unknown_symbol")
    result = bars_load(instrument=instrument, timeframe=timeframe, frame=frame, actor=actor)
    return {"instrument_id": instrument.pk, "symbol": instrument.symbol, **result}


def bars_resample(frame: pd.DataFrame, *, to_timeframe: str) -> pd.DataFrame:
    """Aggregate bars to a higher timeframe: first open, max high, min low, last close, summed volume."""
    _check_timeframe(to_timeframe)
    if frame.empty:
        return frame.copy()
    indexed = frame.set_index("ts").sort_index()
    agg = indexed.resample(TIMEFRAME_OFFSETS[to_timeframe], label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "adj_close": "last", "volume": "sum"}
    )
    agg = agg.dropna(subset=["open", "close"]).reset_index()
    return agg[BAR_COLUMNS]


def bars_resample_store(
    *, instrument: Instrument, from_timeframe: str, to_timeframe: str, actor: Any = None
) -> dict[str, int]:
    """Build ``to_timeframe`` bars from stored ``from_timeframe`` bars and load them."""
    from ..selectors import bars_frame

    _check_timeframe(from_timeframe)
    _check_timeframe(to_timeframe)
    if TIMEFRAME_ORDER.index(to_timeframe) <= TIMEFRAME_ORDER.index(from_timeframe):
        raise ValidationFailed(
            "Bars resample only to a higher timeframe.",
            code="invalid_timeframe",
            details={"from": from_timeframe, "to": to_timeframe},
        )
    source = bars_frame(instrument=instrument, timeframe=from_timeframe)
    if source.empty:
        raise ValidationFailed(f"No {from_timeframe} bars for {instrument.symbol}.", code="no_bars")
    return bars_load(
        instrument=instrument,
        timeframe=to_timeframe,
        frame=bars_resample(source, to_timeframe=to_timeframe),
        actor=actor,
    )


__all__ = [
    "bars_import",
    "bars_load",
    "bars_load_many",
    "bars_resample",
    "bars_resample_store",
    "bars_validate",
    "instrument_get_or_create",
]
