"""Market-data providers behind one interface.

A provider turns a source (a file, later perhaps a symbol at an online vendor) into a bar frame with the columns
``ts`` (aware UTC), ``open``, ``high``, ``low``, ``close``, ``adj_close`` and ``volume`` plus ``row``, the position of
each bar in the source (for error messages). Providers register themselves by name; callers use ``get_provider``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from django.utils.translation import gettext

from apps.core.exceptions import ValidationFailed

BAR_COLUMNS = ["ts", "open", "high", "low", "close", "adj_close", "volume"]

_REGISTRY: dict[str, type[BarProvider]] = {}


class BarProvider:
    name: ClassVar[str] = ""

    def fetch(self, source: Any, **options: Any) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError


def register_provider(cls: type[BarProvider]) -> type[BarProvider]:
    if not cls.name:
        raise ValueError("A provider needs a name.")
    _REGISTRY[cls.name] = cls
    return cls


def provider_names() -> list[str]:
    return sorted(_REGISTRY)


def get_provider(name: str) -> BarProvider:
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ValidationFailed(
            gettext("Unknown data provider %(name)s.") % {"name": repr(name)},
            code="unknown_provider",
            details={"provider": provider_names()},
        ) from None


YAHOO_COLUMNS = {
    "ts": "Date",
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "adj_close": "Adj Close",
    "volume": "Volume",
}


@register_provider
class CsvProvider(BarProvider):
    """CSV files. Default layout: Yahoo's ``Date,Open,High,Low,Close,Adj Close,Volume``; ``columns`` maps our names
    to other headers (``adj_close`` and ``volume`` may be absent). Naive timestamps are read in ``tz`` (UTC)."""

    name = "csv"

    def fetch(
        self,
        source: str | Path | bytes | io.IOBase,
        *,
        columns: dict[str, str] | None = None,
        tz: str = "UTC",
        date_format: str | None = None,
        **_: Any,
    ) -> pd.DataFrame:
        mapping = {**YAHOO_COLUMNS, **(columns or {})}
        if isinstance(source, bytes):
            source = io.BytesIO(source)
        try:
            raw = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValidationFailed(gettext("Unreadable CSV: %(exc)s") % {"exc": exc}, code="invalid_file") from None
        raw.columns = [str(c).strip() for c in raw.columns]
        required = ["ts", "open", "high", "low", "close"]
        missing = [mapping[c] for c in required if mapping[c] not in raw.columns]
        if missing:
            raise ValidationFailed(
                gettext("The file lacks required columns."),
                code="invalid_file",
                details={"missing_columns": missing, "found": list(raw.columns)},
            )
        frame = pd.DataFrame({"row": raw.index.to_numpy() + 2})  # line numbers: the header is line 1
        errors: list[dict[str, Any]] = []
        ts = pd.to_datetime(raw[mapping["ts"]], errors="coerce", format=date_format)
        for row in frame["row"][ts.isna().to_numpy()].tolist()[:100]:
            errors.append({"row": row, "field": "ts", "message": "Not a date/time."})
        if ts.dt.tz is None:
            ts = ts.dt.tz_localize(tz)
        frame["ts"] = ts.dt.tz_convert("UTC")
        numeric: dict[str, Callable[[Any], Any]] = {
            "open": float,
            "high": float,
            "low": float,
            "close": float,
            "adj_close": float,
            "volume": float,
        }
        for column in numeric:
            header = mapping.get(column)
            if not header or header not in raw.columns:
                frame[column] = float("nan") if column == "adj_close" else 0.0
                continue
            values = pd.to_numeric(raw[header].replace({"": None, "null": None}), errors="coerce")
            bad = values.isna().to_numpy() & (column != "adj_close")
            for row in frame["row"][bad].tolist()[:100]:
                errors.append({"row": row, "field": column, "message": "Not a number."})
            frame[column] = values.astype("float64")
        if errors:
            raise ValidationFailed(
                gettext("%(errors)s unreadable value(s) in the file.") % {"errors": len(errors)},
                code="invalid_bars",
                details={"errors": errors},
            )
        return frame[["row", *BAR_COLUMNS]]
