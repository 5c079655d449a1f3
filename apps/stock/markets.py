"""Regular trading sessions of exchanges, in each exchange's local time (so daylight saving time is followed).

Sessions are ``"HH:MM-HH:MM"`` ranges, several for markets with a lunch break, on the exchange's local weekdays
(Monday to Friday). ``STOCK_MARKET_SESSIONS`` (a dict MIC -> {"tz": ..., "sessions": [...]}) adds or overrides
exchanges; an exchange in neither table uses ``STOCK_MARKET_HOURS_UTC`` (UTC, weekdays). Crypto trades around the
clock. Exchange holidays are not modelled: a holiday counts as a regular weekday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from . import conf
from .choices import AssetClass


@dataclass(frozen=True)
class MarketSessions:
    tz: str
    sessions: tuple[tuple[str, str], ...]

    def is_open(self, now: dt.datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.tz))
        if local.weekday() >= 5:
            return False
        hhmm = local.strftime("%H:%M")
        return any(start <= hhmm < end for start, end in self.sessions)


def _parse(value: str | list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    ranges = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in ranges:
        start, end = (part.strip() for part in item.split("-"))
        out.append((start.zfill(5), end.zfill(5)))
    return tuple(out)


_NEW_YORK: dict[str, object] = {"tz": "America/New_York", "sessions": ["09:30-16:00"]}

EXCHANGE_SESSIONS: dict[str, dict[str, object]] = {
    "XNYS": _NEW_YORK,
    "XNAS": _NEW_YORK,
    "ARCX": _NEW_YORK,
    "BATS": _NEW_YORK,
    "XASE": _NEW_YORK,
    "XTSE": {"tz": "America/Toronto", "sessions": ["09:30-16:00"]},
    "XLON": {"tz": "Europe/London", "sessions": ["08:00-16:30"]},
    "XETR": {"tz": "Europe/Berlin", "sessions": ["09:00-17:30"]},
    "XPAR": {"tz": "Europe/Paris", "sessions": ["09:00-17:30"]},
    "XAMS": {"tz": "Europe/Amsterdam", "sessions": ["09:00-17:30"]},
    "XSWX": {"tz": "Europe/Zurich", "sessions": ["09:00-17:30"]},
    "XTKS": {"tz": "Asia/Tokyo", "sessions": ["09:00-11:30", "12:30-15:30"]},
    "XHKG": {"tz": "Asia/Hong_Kong", "sessions": ["09:30-12:00", "13:00-16:00"]},
    "XSHG": {"tz": "Asia/Shanghai", "sessions": ["09:30-11:30", "13:00-15:00"]},
    "XSHE": {"tz": "Asia/Shanghai", "sessions": ["09:30-11:30", "13:00-15:00"]},
    "XASX": {"tz": "Australia/Sydney", "sessions": ["10:00-16:00"]},
}


def sessions_for(exchange: str) -> MarketSessions:
    table = {**EXCHANGE_SESSIONS, **conf.market_sessions()}
    entry = table.get((exchange or "").strip().upper())
    if entry is None:
        start, end = conf.market_hours_utc()
        return MarketSessions(tz="UTC", sessions=((start.zfill(5), end.zfill(5)),))
    return MarketSessions(tz=str(entry["tz"]), sessions=_parse(entry["sessions"]))  # type: ignore[arg-type]


def market_is_open(*, exchange: str, asset_class: str, now: dt.datetime) -> bool:
    """Whether the regular session of ``exchange`` is open at ``now`` (an aware datetime)."""
    if asset_class == AssetClass.CRYPTO:
        return True
    return sessions_for(exchange).is_open(now)
