"""Admin pages: instrument chart, bar import page (service-backed, all-or-nothing), run/portfolio pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.roles import GUEST
from apps.stock.models import PriceBar
from apps.stock.services import paper
from apps.stock.services.research import backtest_create, backtest_execute

from .conftest import INDEX_2006
from .factories import InstrumentFactory


@pytest.mark.django_db
def test_instrument_change_page_shows_price_chart(admin_client, index_2006) -> None:
    html = admin_client.get(f"/admin/stock/instrument/{index_2006.pk}/change/").content.decode()
    assert "<svg" in html and "polyline" in html


@pytest.mark.django_db
def test_import_bars_page(admin_client) -> None:
    InstrumentFactory(symbol="IDX")
    assert admin_client.get("/admin/stock/instrument/import-bars/").status_code == 200
    upload = SimpleUploadedFile("idx.csv", INDEX_2006.read_bytes())
    response = admin_client.post(
        "/admin/stock/instrument/import-bars/",
        {"file": upload, "symbol": "IDX", "exchange": "XNYS", "timeframe": "1d", "provider": "csv"},
    )
    assert response.status_code == 302
    assert PriceBar.objects.filter(instrument__symbol="IDX").count() == 255
    bad = SimpleUploadedFile("bad.csv", b"Date,Open,High,Low,Close,Volume\n2020-01-01,1,1,2,1,1\n")
    response = admin_client.post(
        "/admin/stock/instrument/import-bars/",
        {"file": bad, "symbol": "BAD", "exchange": "XNYS", "timeframe": "1d", "provider": "csv"},
    )
    assert response.status_code == 200 and "row 2" in response.content.decode()
    assert not PriceBar.objects.filter(instrument__symbol="BAD").exists()


@pytest.mark.django_db
def test_import_page_needs_trade_permission(client, make_user) -> None:
    client.force_login(make_user(role=GUEST, is_staff=True))
    assert client.get("/admin/stock/instrument/import-bars/").status_code == 403


@pytest.mark.django_db
def test_backtest_and_portfolio_change_pages(admin_client, admin_user, index_2006) -> None:
    run = backtest_create(
        owner=admin_user, kind="sma_cross", params={"fast": 5, "slow": 20}, instrument=index_2006, enqueue=False
    )
    backtest_execute(run_id=run.pk)
    html = admin_client.get(f"/admin/stock/backtestrun/{run.pk}/change/").content.decode()
    assert "<svg" in html and "sharpe" in html
    portfolio = paper.portfolio_create(owner=admin_user, name="desk", cash=Decimal("100000"))
    paper.order_place(portfolio=portfolio, actor=admin_user, instrument=index_2006, side="buy", quantity=1)
    html = admin_client.get(f"/admin/stock/portfolio/{portfolio.pk}/change/").content.decode()
    assert "equity" in html and "unrealized" in html
    assert admin_client.get("/admin/stock/order/").status_code == 200


@pytest.mark.django_db
def test_instrument_list_offers_the_import_button(admin_client, client, make_user) -> None:
    html = admin_client.get("/admin/stock/instrument/").content.decode()
    assert "/admin/stock/instrument/import-bars/" in html and "Import bars" in html
    client.force_login(make_user(role=GUEST, is_staff=True))
    listing = client.get("/admin/stock/instrument/")
    assert listing.status_code == 200 and "/admin/stock/instrument/import-bars/" not in listing.content.decode()
