"""Market data writes: instruments, validated bulk loads of bars (PostgreSQL COPY + upsert), resampling."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.queueing import enqueue_on_commit
from apps.core.services import audit_record

from .. import conf
from ..choices import TIMEFRAME_OFFSETS, TIMEFRAME_ORDER, Timeframe
from ..models import Instrument
from ..providers import BAR_COLUMNS, get_provider
from ..selectors import bars_frame
from .paper import open_orders_exist

MAX_REPORTED_ERRORS = 200


def instrument_get_or_create(
    *, symbol: str, exchange: str = "XNYS", actor: Any = None, **defaults: Any
) -> tuple[Instrument, bool]:
    symbol, exchange = symbol.strip().upper(), exchange.strip().upper()
    if not symbol:
        raise ValidationFailed(
            gettext("A symbol is required."), details={"symbol": [gettext("This field is required.")]}
        )
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
            gettext("%(errors)s invalid bar(s); nothing was written.") % {"errors": len(errors)},
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

# Built once from the module constant _COLUMNS, no input (bandit B608: false positive).
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
"""  # nosec B608


_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since the Unix epoch
COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_BINARY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_FLOAT_FIELDS = ("open", "high", "low", "close")


def _row_dtype(timeframe_len: int, *, with_adj_close: bool) -> np.dtype:
    """Big-endian record of one row in PostgreSQL's binary COPY format: field count, then (length, value) pairs."""
    fields: list[tuple[str, str]] = [("n", ">i2"), ("id_len", ">i4"), ("instrument_id", ">i8")]
    fields += [("tf_len", ">i4"), ("timeframe", f"S{timeframe_len}"), ("ts_len", ">i4"), ("ts", ">i8")]
    for name in _FLOAT_FIELDS:
        fields += [(f"{name}_len", ">i4"), (name, ">f8")]
    fields.append(("adj_len", ">i4"))
    if with_adj_close:
        fields.append(("adj_close", ">f8"))
    fields += [("volume_len", ">i4"), ("volume", ">i8")]
    return np.dtype(fields)


def _copy_binary(frame: pd.DataFrame, instrument_id: int, timeframe: str) -> bytes:
    """Rows of one frame in binary COPY format, built from NumPy arrays (no per-row Python, no float formatting).
    Floats travel as IEEE 754 doubles, so nothing is rounded. A missing adjusted close is sent as NULL."""
    stamps = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC").as_unit("us").asi8 - _PG_EPOCH_US
    adj = frame["adj_close"].to_numpy(dtype="float64")
    has_adj = ~np.isnan(adj)
    tf = timeframe.encode()
    parts = []
    for with_adj, mask in ((True, has_adj), (False, ~has_adj)):
        count = int(mask.sum())
        if not count:
            continue
        rows = np.empty(count, dtype=_row_dtype(len(tf), with_adj_close=with_adj))
        rows["n"] = 9
        rows["id_len"], rows["ts_len"], rows["volume_len"] = 8, 8, 8
        rows["tf_len"] = len(tf)
        rows["instrument_id"] = instrument_id
        rows["timeframe"] = tf
        rows["ts"] = stamps[mask]
        for name in _FLOAT_FIELDS:
            rows[f"{name}_len"] = 8
            rows[name] = frame[name].to_numpy(dtype="float64")[mask]
        if with_adj:
            rows["adj_len"] = 8
            rows["adj_close"] = adj[mask]
        else:
            rows["adj_len"] = -1
        rows["volume"] = frame["volume"].to_numpy(dtype="float64")[mask].round().astype("int64")
        parts.append(rows.tobytes())
    return b"".join(parts)


def _raw_cursor(django_cursor: Any) -> Any:
    cursor = django_cursor.cursor  # the psycopg 3 cursor under Django's wrappers
    while hasattr(cursor, "cursor") and not hasattr(cursor, "copy"):
        cursor = cursor.cursor
    return cursor


def _copy_write(cursor: Any, statement: str, chunks: Iterable[bytes]) -> int:
    """One binary COPY of all chunks; returns the number of rows PostgreSQL stored."""
    with cursor.copy(statement) as copy:
        copy.write(COPY_BINARY_HEADER)
        for chunk in chunks:
            copy.write(chunk)
        copy.write(COPY_BINARY_TRAILER)
    return cursor.rowcount


_DROP_INDEXES = (
    "ALTER TABLE stock_pricebar DROP CONSTRAINT stock_pricebar_unique_ts",
    "ALTER TABLE stock_pricebar DROP CONSTRAINT stock_pricebar_pkey",
)
_BUILD_INDEXES = (
    "ALTER TABLE stock_pricebar ADD CONSTRAINT stock_pricebar_pkey PRIMARY KEY (id)",
    "ALTER TABLE stock_pricebar ADD CONSTRAINT stock_pricebar_unique_ts UNIQUE (instrument_id, timeframe, ts)",
)


def _rebuild_worthwhile(cursor: Any, rows: int) -> bool:
    """A large first load goes in with the table's two B-tree indexes dropped and rebuilt (one sorted build instead
    of an index insertion per row) when it is at least as large as the table already is."""
    if rows < conf.bar_rebuild_min_rows():
        return False
    cursor.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'stock_pricebar'::regclass")
    return rows >= cursor.fetchone()[0]


def _copy_upsert(chunks: Iterable[bytes], *, rows: int, instrument_ids: list[int], timeframe: str) -> dict[str, int]:
    """Load binary COPY rows (inside the caller's transaction).

    A first load of these instruments/timeframe goes straight into stock_pricebar (the check constraints still test
    every row). A large first load takes the table's exclusive lock, drops the primary key and unique indexes, copies
    and rebuilds them before commit: the unique constraint is re-established over every row, so a duplicate anywhere
    fails the whole load, and no reader ever sees the table without its indexes. Anything else goes to a temporary
    stage table and is upserted."""
    connection.ensure_connection()
    with connection.cursor() as django_cursor:
        cursor = _raw_cursor(django_cursor)
        rebuild = _rebuild_worthwhile(cursor, rows)
        if rebuild:
            # taken before the existence check, so no concurrent load can slip in between
            cursor.execute("LOCK TABLE stock_pricebar IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM stock_pricebar WHERE instrument_id = ANY(%s) AND timeframe = %s)",
            [instrument_ids, timeframe],
        )
        if not cursor.fetchone()[0]:
            statement = f"COPY stock_pricebar ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            if not rebuild:
                written = _copy_write(cursor, statement, chunks)
                return {"rows": written, "inserted": written, "updated": 0}
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for ddl in _DROP_INDEXES:
                cursor.execute(ddl)
            written = _copy_write(cursor, statement, chunks)
            for ddl in _BUILD_INDEXES:
                cursor.execute(ddl)
            return {"rows": written, "inserted": written, "updated": 0}
        cursor.execute("DROP TABLE IF EXISTS pg_temp.stock_bar_stage")
        cursor.execute(_STAGE_DDL)
        _copy_write(cursor, "COPY stock_bar_stage FROM STDIN (FORMAT BINARY)", chunks)
        cursor.execute(_UPSERT)
        total, inserted = cursor.fetchone()
        cursor.execute("DROP TABLE stock_bar_stage")
    return {"rows": total, "inserted": inserted, "updated": total - inserted}


def _check_timeframe(timeframe: str) -> None:
    if timeframe not in Timeframe.values:
        raise ValidationFailed(
            gettext("Unknown timeframe %(timeframe)s.") % {"timeframe": repr(timeframe)},
            code="invalid_timeframe",
            details={"timeframe": Timeframe.values},
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
            raise ValidationFailed(gettext("No bars for %(symbol)s.") % {"symbol": instrument.symbol}, code="no_bars")
        missing = [c for c in BAR_COLUMNS if c not in frame.columns]
        if missing:
            raise ValidationFailed(
                gettext("Bar frame lacks columns."), code="invalid_bars", details={"missing": missing}
            )
        _check(frame)
    with transaction.atomic():
        result = _copy_upsert(
            (_copy_binary(frame, instrument.pk, timeframe) for instrument, frame in items),
            rows=sum(len(frame) for _, frame in items),
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
    """New bars may fill open paper orders: queue the matcher (stock.match_orders) once the bars are committed."""
    if open_orders_exist(instrument_ids=instrument_ids):
        enqueue_on_commit("stock.match_orders", instrument_ids)


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
        found = Instrument.objects.filter(symbol=symbol.upper(), exchange=exchange.upper()).first()
        if found is None:
            raise NotFound(gettext("Unknown instrument %(symbol)s.") % {"symbol": symbol}, code="unknown_symbol")
        instrument = found
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
    _check_timeframe(from_timeframe)
    _check_timeframe(to_timeframe)
    if TIMEFRAME_ORDER.index(to_timeframe) <= TIMEFRAME_ORDER.index(from_timeframe):
        raise ValidationFailed(
            gettext("Bars resample only to a higher timeframe."),
            code="invalid_timeframe",
            details={"from": from_timeframe, "to": to_timeframe},
        )
    source = bars_frame(instrument=instrument, timeframe=from_timeframe)
    if source.empty:
        raise ValidationFailed(
            gettext("No %(from_timeframe)s bars for %(symbol)s.")
            % {"from_timeframe": from_timeframe, "symbol": instrument.symbol},
            code="no_bars",
        )
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
