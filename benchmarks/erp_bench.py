"""ERP benchmark: order-to-cash throughput, report latency on 100k order lines, and 20 concurrent confirmations of
the last units of one product. Runs against a throw-away database (created with the test settings, dropped after).

    TEST_DB_NAME=erp_bench DJANGO_ENV=test python benchmarks/erp_bench.py [--orders 200] [--lines 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aistack.settings.test")

import django

django.setup()

from django.db import connection, connections  # noqa: E402

D = Decimal


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def setup_catalogue():
    from apps.erp.models import Customer, Location, Product, TaxRate
    from apps.erp.services.inventory import stock_opening_bulk

    vat = TaxRate.objects.get(code="VAT13")
    customers = Customer.objects.bulk_create(
        [Customer(code=f"BC{i:05d}", name=f"Bench customer {i}") for i in range(200)]
    )
    products = Product.objects.bulk_create(
        [Product(sku=f"BP{i:05d}", name=f"Bench product {i}", sale_price=D("25.00"), tax_rate=vat) for i in range(100)]
    )
    location = Location.objects.get(code="WH/STOCK")
    from django.utils import timezone

    stock_opening_bulk(items=[(p, D(100000), D("10.00")) for p in products], location=location, at=timezone.now())
    return customers, products


def bench_order_to_cash(customers, products, n: int) -> dict:
    from apps.erp.services import sales

    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        order = sales.sales_order_create(
            customer=customers[i % len(customers)],
            lines=[{"product": products[(i + k) % len(products)], "quantity": D(2)} for k in range(2)],
        )
        sales.sales_order_confirm(order=order)
        sales.sales_order_deliver(order=order)
        sales.sales_order_invoice(order=order)
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    return {
        "orders": n,
        "seconds": round(total, 2),
        "orders_per_second": round(n / total, 1),
        "p50_ms": round(pct(latencies, 50) * 1000, 1),
        "p95_ms": round(pct(latencies, 95) * 1000, 1),
    }


def bulk_history(customers, products, lines: int) -> None:
    """Synthetic invoiced order history: ``lines`` order lines over 12 months (bulk inserted)."""
    import datetime as dt

    from apps.erp.models import SalesOrder, SalesOrderLine, TaxRate, Warehouse

    vat = TaxRate.objects.get(code="VAT13")
    warehouse = Warehouse.objects.get(code="WH")
    per_order = 5
    today = dt.date.today()
    orders = SalesOrder.objects.bulk_create(
        [
            SalesOrder(
                number=f"HIST-{i:07d}",
                customer=customers[i % len(customers)],
                warehouse=warehouse,
                state="invoiced",
                order_date=today - dt.timedelta(days=i % 365),
                subtotal=D("250.00"),
                tax_total=D("32.50"),
                total=D("282.50"),
            )
            for i in range(lines // per_order)
        ],
        batch_size=5000,
    )
    SalesOrderLine.objects.bulk_create(
        [
            SalesOrderLine(
                order=order,
                product=products[(j * 7 + k) % len(products)],
                quantity=D(1),
                unit_price=D("50.00"),
                tax_rate=vat,
                net_amount=D("50.00"),
                tax_amount=D("6.50"),
                quantity_delivered=D(1),
            )
            for j, order in enumerate(orders)
            for k in range(per_order)
        ],
        batch_size=10000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def bench_reports(repeat: int = 3) -> dict:
    import datetime as dt

    from apps.erp.selectors import reports
    from apps.erp.selectors.dashboard import dashboard_kpis

    today = dt.date.today()
    year_ago = today - dt.timedelta(days=365)
    cases = {
        "dashboard (year)": lambda: dashboard_kpis(period="year"),
        "dashboard (month)": lambda: dashboard_kpis(period="month"),
        "sales by customer": lambda: reports.sales_by(group="customer", date_from=year_ago, date_to=today),
        "sales by product": lambda: reports.sales_by(group="product", date_from=year_ago, date_to=today),
        "sales by month": lambda: reports.sales_by(group="month", date_from=year_ago, date_to=today),
        "trial balance": lambda: reports.trial_balance(),
        "profit and loss": lambda: reports.profit_and_loss(date_from=year_ago, date_to=today),
        "balance sheet": lambda: reports.balance_sheet(date_to=today),
        "AR aging": lambda: reports.aging(kind="customer", as_of=today),
        "inventory valuation": lambda: reports.inventory_valuation(),
    }
    result = {}
    for name, func in cases.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            func()
            times.append(time.perf_counter() - t)
        result[name] = round(statistics.median(times) * 1000, 1)
    return result


def bench_concurrency(threads: int = 20, units: int = 5) -> dict:
    from django.utils import timezone

    from apps.core.exceptions import Conflict
    from apps.erp.models import Customer, Location, Product, SalesOrder, StockLevel, TaxRate
    from apps.erp.services import sales
    from apps.erp.services.inventory import stock_opening_bulk

    product = Product.objects.create(
        sku="LAST-UNITS", name="Scarce", sale_price=D("99.00"), tax_rate=TaxRate.objects.get(code="VAT13")
    )
    location = Location.objects.get(code="WH/STOCK")
    stock_opening_bulk(items=[(product, D(units), D("50.00"))], location=location, at=timezone.now())
    customer = Customer.objects.order_by("id").first()
    orders = [
        sales.sales_order_create(customer=customer, lines=[{"product": product, "quantity": 1}]) for _ in range(threads)
    ]
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def confirm(order_id: int) -> None:
        try:
            barrier.wait()
            sales.sales_order_confirm(order=SalesOrder.objects.get(pk=order_id))
            outcome = "confirmed"
        except Conflict as exc:
            outcome = exc.code
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    start = time.perf_counter()
    workers = [threading.Thread(target=confirm, args=(o.pk,)) for o in orders]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    level = StockLevel.objects.get(product=product, location=location)
    return {
        "threads": threads,
        "available_before": units,
        "confirmed": outcomes.count("confirmed"),
        "refused_insufficient_stock": outcomes.count("insufficient_stock"),
        "reserved_after": str(level.reserved),
        "oversold": max(0, outcomes.count("confirmed") - units),
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    from apps.erp.reference import reference_data_ensure

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        reference_data_ensure()
        customers, products = setup_catalogue()
        print(
            "order-to-cash (create + confirm + deliver + invoice, 2 lines):",
            bench_order_to_cash(customers, products, args.orders),
        )
        t = time.perf_counter()
        bulk_history(customers, products, args.lines)
        print(f"bulk history: {args.lines} order lines in {time.perf_counter() - t:.1f}s")
        print("report latency, median of 3 (ms):")
        for name, ms in bench_reports().items():
            print(f"  {name:<22} {ms:>8}")
        print("concurrency:", bench_concurrency())
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
