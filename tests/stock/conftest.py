from __future__ import annotations

from pathlib import Path

import pytest

from apps.stock.providers import get_provider
from apps.stock.services.bars import bars_import, instrument_get_or_create

FIXTURES = Path(__file__).parent / "fixtures"
ORCL = FIXTURES / "orcl-1995-2014.txt"
NVDA = FIXTURES / "nvda-1999-2014.txt"
YHOO = FIXTURES / "yhoo-1996-2014.txt"
INDEX_2006 = FIXTURES / "2006-day-001.txt"
ORCL_2015 = FIXTURES / "orcl-1995-2014.v2015-09-03_065f8ac9.txt"


@pytest.fixture(scope="session")
def orcl_frame():
    return get_provider("csv").fetch(ORCL)


@pytest.fixture
def orcl(db):
    """ORCL with its 5,036 daily bars loaded."""
    bars_import(source=ORCL, symbol="ORCL", timeframe="1d")
    return instrument_get_or_create(symbol="ORCL")[0]


@pytest.fixture
def index_2006(db):
    """A 255-bar index (2006), small and fast for API tests."""
    bars_import(
        source=INDEX_2006,
        symbol="IDX",
        timeframe="1d",
        options={"columns": {"adj_close": "", "volume": "Volume"}},
    )
    return instrument_get_or_create(symbol="IDX")[0]
