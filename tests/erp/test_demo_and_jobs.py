"""A year of demo activity keeps the books balanced; scheduled jobs, commands and metrics."""

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from prometheus_client import REGISTRY

from apps.core.metrics import refresh_business_metrics
from apps.erp import demo, tasks
from apps.erp.models import Customer, Invoice, KpiSnapshot, Product, PurchaseOrder, StockLevel
from apps.erp.selectors import reports
from apps.erp.selectors.inventory import ledger_on_hand
from tests.erp.factories import CustomerFactory, ProductFactory, SupplierFactory
from tests.erp.helpers import assert_every_entry_balances, receive_stock

D = Decimal


def test_a_year_of_demo_activity_balances(django_user_model):
    out = io.StringIO()
    demo.seed(stdout=out, scale=0.25)
    assert "sales orders" in out.getvalue()
    assert Customer.objects.count() == 50 and Product.objects.count() == 200
    tb = reports.trial_balance()["totals"]
    assert tb["debit"] == tb["credit"] and tb["debit"] > 0
    bs = reports.balance_sheet()["totals"]
    assert bs["assets"] == bs["liabilities"] + bs["equity"]
    assert reports.profit_and_loss()["totals"]["income"] > 0
    assert_every_entry_balances()
    for level in StockLevel.objects.all():
        assert level.on_hand == ledger_on_hand(product_id=level.product_id, location_id=level.location_id)
        if level.product.kind == "stockable":
            assert level.on_hand >= 0 and level.reserved <= level.on_hand
    assert Invoice.objects.filter(amount_paid__gt=F("total")).count() == 0
    demo.seed(stdout=out)  # idempotent
    assert "already present" in out.getvalue()


def test_reorder_job_drafts_once_per_supplier():
    supplier = SupplierFactory()
    product = ProductFactory(reorder_point=D("10"), reorder_quantity=D("30"), default_supplier=supplier)
    ProductFactory(reorder_point=D("10"))  # no default supplier: listed, not drafted
    result = tasks.draft_reorder_purchase_orders.delay().get()
    assert len(result["drafted"]) == 1
    order = PurchaseOrder.objects.get(number=result["drafted"][0])
    assert order.state == "draft" and order.lines.get().product == product and order.lines.get().quantity == D("30")
    assert tasks.draft_reorder_purchase_orders.delay().get()["drafted"] == []  # already on order


def test_overdue_flagging_and_kpi_snapshot_metrics():
    from apps.erp.services import sales

    product = ProductFactory(sale_price=D("10.00"))
    receive_stock(product, 5)
    order = sales.sales_order_create(
        customer=CustomerFactory(payment_terms_days=0), lines=[{"product": product, "quantity": 1}]
    )
    sales.sales_order_confirm(order=order)
    sales.sales_order_deliver(order=order)
    invoice = sales.sales_order_invoice(order=order, invoice_date=order.order_date.replace(year=2024))
    assert tasks.flag_overdue_invoices.delay().get() == 1
    invoice.refresh_from_db()
    assert invoice.is_overdue
    data = tasks.snapshot_kpis.delay().get()
    assert KpiSnapshot.objects.count() == 1 and data["overdue_receivables"] == "11.30"
    refresh_business_metrics()  # what the beat job does; the scrape then exports the snapshot
    assert REGISTRY.get_sample_value("erp_overdue_receivables") == pytest.approx(11.30)
    assert REGISTRY.get_sample_value("erp_sales_orders_created_total") is not None


def test_import_reports_bad_rows_and_imports_nothing(tmp_path):
    good = tmp_path / "customers.csv"
    good.write_text("code,name,email,credit_limit\nC1,Acme,a@example.com,100.00\nC2,Beta,,0\n")
    call_command("erp_import", "customers", str(good), stdout=io.StringIO())
    assert Customer.objects.filter(code__in=["C1", "C2"]).count() == 2

    bad = tmp_path / "more.csv"
    bad.write_text("code,name,email,credit_limit\nC3,Gamma,,1\nC1,Dup,,0\nC4,,not-an-email,-5\nC3,Again,,0\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("erp_import", "customers", str(bad), stdout=io.StringIO(), stderr=err)
    assert "row 3:" in err.getvalue() and "row 4:" in err.getvalue() and "row 5:" in err.getvalue()
    assert "row 2:" not in err.getvalue()
    assert not Customer.objects.filter(code="C3").exists()
    call_command("erp_import", "customers", str(bad), "--skip-errors", stdout=io.StringIO(), stderr=io.StringIO())
    assert Customer.objects.get(code="C3").name == "Gamma"

    columns = tmp_path / "cols.csv"
    columns.write_text("sku,title\nX,Y\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("erp_import", "products", str(columns), stdout=io.StringIO(), stderr=err)
    assert "missing" in err.getvalue() and "title" in err.getvalue()


def test_import_products_and_opening_stock(tmp_path):
    products = tmp_path / "products.csv"
    products.write_text("sku,name,kind,sale_price,tax_code,category\nP-1,Bolt,stockable,1.20,VAT13,Hardware\n")
    call_command("erp_import", "products", str(products), stdout=io.StringIO())
    stock = tmp_path / "stock.csv"
    stock.write_text("sku,location,quantity,unit_cost\nP-1,WH/STOCK,100,0.5\nNOPE,WH/STOCK,1,1\n")
    with pytest.raises(CommandError):
        call_command("erp_import", "opening-stock", str(stock), stdout=io.StringIO(), stderr=io.StringIO())
    call_command("erp_import", "opening-stock", str(stock), "--skip-errors", stdout=io.StringIO(), stderr=io.StringIO())
    product = Product.objects.get(sku="P-1")
    assert product.category.name == "Hardware" and product.average_cost == D("0.5000")
    assert reports.balance_sheet()["totals"]["balanced"]


def test_report_and_reorder_commands(tmp_path):
    receive_stock(ProductFactory(reorder_point=D("10"), default_supplier=SupplierFactory()), 2)
    out = io.StringIO()
    call_command("erp_report", "trial-balance", stdout=out)
    assert "Trial balance" in out.getvalue() and "1200" in out.getvalue()
    target = tmp_path / "bs.csv"
    call_command("erp_report", "balance-sheet", "--format", "csv", "--output", str(target), stdout=io.StringIO())
    assert target.read_text().startswith("section,code,account,amount")
    out = io.StringIO()
    call_command("erp_reorder", "--draft", stdout=out)
    assert "1 product(s)" in out.getvalue() and "Drafted 1" in out.getvalue()
