"""Demo data: a small trading and assembly company with a year of activity (sales, purchases, production,
payments, running costs), so every report and dashboard shows real shapes. Idempotent: does nothing when the demo
customers already exist. Everything goes through the services, so the ledgers are consistent."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.roles import MANAGER

from .models import Customer, Location, Product, ProductCategory, Supplier, TaxRate
from .reference import reference_data_ensure
from .services import finance, production, purchasing, sales
from .services.housekeeping import invoices_flag_overdue, kpi_snapshot_take, reorder_draft_purchase_orders
from .services.inventory import stock_opening_bulk

D = Decimal
CATEGORIES = ["Bicycles", "Frames", "Wheels", "Components", "Accessories", "Apparel", "Tools", "Packaging"]
CITIES = ["Shanghai", "Hangzhou", "Suzhou", "Ningbo", "Nanjing", "Shenzhen", "Guangzhou", "Chengdu", "Wuhan", "Xiamen"]
COMPANY_WORDS = ["Cycle", "Velo", "Ride", "Trail", "Urban", "Peak", "Coast", "River", "Summit", "Metro"]
SUFFIXES = ["Trading Co", "Sports Ltd", "Outfitters", "Bike Shop", "Retail Group"]


def _aware(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def seed(*, stdout: Any, scale: float = 1.0, today: dt.date | None = None) -> None:
    if Customer.objects.filter(code="CUST-0001").exists():
        stdout.write("ERP demo data already present")
        return
    reference_data_ensure()
    rng = random.Random(20250101)
    today = today or timezone.localdate()
    start = today - dt.timedelta(days=364)
    actor = get_user_model().objects.filter(username=MANAGER).first()  # seed_demo's manager
    with transaction.atomic():
        products, finished, components = _master_data(rng)
        _opening(products, components, start, actor)
        boms = _boms(rng, finished, components, actor)
    weeks = 52
    sales_per_week = max(1, round(4 * scale))
    counts = {"sales": 0, "purchases": 0, "production": 0}
    customers = list(Customer.objects.order_by("id"))
    sellable = [p for p in products if p.kind != "service" and p.pk not in {c.pk for c in components[:20]}]
    services = [p for p in products if p.kind == "service"]
    for week in range(weeks):
        monday = start + dt.timedelta(weeks=week)
        with transaction.atomic():
            if week % 2 == 1:
                counts["purchases"] += _replenish(rng, monday, actor)
            if week % 2 == 0 and boms:
                counts["production"] += _produce(rng, rng.choice(boms), monday, actor)
            for n in range(sales_per_week):
                day = min(today, monday + dt.timedelta(days=n % 5))
                counts["sales"] += _sell(rng, rng.choice(customers), sellable, services, day, today, actor)
            if week % 4 == 0:
                _running_costs(monday, actor)
    invoices_flag_overdue(as_of=today)
    kpi_snapshot_take(date=today)
    stdout.write(
        f"ERP demo: {len(customers)} customers, {Supplier.objects.count()} suppliers, {len(products)} products, "
        f"{len(boms)} BOMs, {counts['sales']} sales orders, {counts['purchases']} purchase orders, "
        f"{counts['production']} production orders"
    )


def _master_data(rng: random.Random) -> tuple[list[Product], list[Product], list[Product]]:
    categories = {name: ProductCategory.objects.get_or_create(name=name)[0] for name in CATEGORIES}
    suppliers = Supplier.objects.bulk_create(
        [
            Supplier(
                code=f"SUPP-{i:04d}",
                name=f"{rng.choice(COMPANY_WORDS)} {rng.choice(['Industrial', 'Parts', 'Manufacturing'])} {i}",
                email=f"sales{i}@supplier.example.com",
                billing_address=f"{rng.randint(1, 999)} Factory Rd, {rng.choice(CITIES)}",
                tax_id=f"913100{rng.randint(10**9, 10**10 - 1)}",
                bank_account=f"6222 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                payment_terms_days=rng.choice([30, 45, 60]),
            )
            for i in range(1, 21)
        ]
    )
    Customer.objects.bulk_create(
        [
            Customer(
                code=f"CUST-{i:04d}",
                name=f"{rng.choice(COMPANY_WORDS)} {rng.choice(SUFFIXES)} {i}",
                contact_name=f"Contact {i}",
                email=f"buyer{i}@customer.example.com",
                billing_address=f"{rng.randint(1, 999)} Market St, {rng.choice(CITIES)}",
                tax_id=f"913200{rng.randint(10**9, 10**10 - 1)}",
                bank_account=f"6217 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                payment_terms_days=rng.choice([15, 30, 30, 45, 60]),
                credit_limit=D(rng.choice([0, 0, 200000, 500000])),
            )
            for i in range(1, 51)
        ]
    )
    vat13, vat6 = TaxRate.objects.get(code="VAT13"), TaxRate.objects.get(code="VAT6")
    rows = []
    for i in range(1, 201):
        if i <= 30:
            kind, category, name = "stockable", "Bicycles", f"Assembled bike model {i}"
        elif i <= 190:
            kind = "consumable" if i > 175 else "stockable"
            category = CATEGORIES[1 + (i % (len(CATEGORIES) - 1))]
            name = f"{category[:-1] if category.endswith('s') else category} item {i}"
        else:
            kind, category, name = "service", "Tools", f"Service package {i}"
        cost = D(rng.randint(500, 40000)) / 100
        rows.append(
            Product(
                sku=f"SKU-{i:04d}",
                name=name,
                kind=kind,
                category=categories[category],
                standard_cost=cost,
                sale_price=(cost * D(rng.choice(["1.4", "1.6", "1.8", "2.2"]))).quantize(D("0.01")),
                reorder_point=D(40) if kind == "stockable" and i > 30 else D(0),
                reorder_quantity=D(60) if kind == "stockable" and i > 30 else D(0),
                tax_rate=vat6 if kind == "service" else vat13,
                default_supplier=suppliers[i % len(suppliers)],
                barcode=f"69{rng.randint(10**10, 10**11 - 1)}",
            )
        )
    products = Product.objects.bulk_create(rows)
    finished = [p for p in products if p.category_id == categories["Bicycles"].pk]
    components = [p for p in products if p.kind == "stockable" and p not in finished]
    return products, finished, components


def _opening(products: list[Product], components: list[Product], start: dt.date, actor: Any) -> None:
    location = Location.objects.get(code="WH/STOCK")
    bom_parts = {p.pk for p in components[:20]}
    items = [
        (
            product,
            D(20)
            if product.category is not None and product.category.name == "Bicycles"
            else D(150 if product.pk in bom_parts else 48),
            product.standard_cost,
        )
        for product in products
        if product.kind != "service"
    ]
    stock_opening_bulk(items=items, location=location, at=_aware(start, 8), actor=actor)
    finance.journal_post(
        date=start,
        lines=[{"account": "1010", "debit": "800000.00"}, {"account": "3000", "credit": "800000.00"}],
        memo="Owner's capital",
        actor=actor,
    )


def _boms(rng: random.Random, finished: list[Product], components: list[Product], actor: Any) -> list:
    boms = []
    for product in finished:
        parts = rng.sample(components[:20], 4)
        boms.append(
            production.bom_create(
                code=f"BOM-{product.sku}",
                product=product,
                lines=[
                    {
                        "component": part,
                        "quantity": D(rng.choice([1, 1, 2, 4])),
                        "scrap_percent": D(rng.choice([0, 2, 5])),
                    }
                    for part in parts
                ],
                actor=actor,
            )
        )
    return boms


def _replenish(rng: random.Random, day: dt.date, actor: Any) -> int:
    orders = reorder_draft_purchase_orders(actor=actor)
    for order in orders:
        purchasing.purchase_order_update(order=order, order_date=day, actor=actor)
        purchasing.purchase_order_approve(order=order, actor=actor)
        purchasing.purchase_order_receive(order=order, actor=actor, at=_aware(day + dt.timedelta(days=2)))
        bill = purchasing.purchase_order_bill(order=order, actor=actor, bill_date=day + dt.timedelta(days=3))
        if rng.random() < 0.85 and day + dt.timedelta(days=40) < timezone.localdate():
            finance.payment_register(invoice=bill, amount=bill.total, date=day + dt.timedelta(days=35), actor=actor)
    return len(orders)


def _produce(rng: random.Random, bom: Any, day: dt.date, actor: Any) -> int:
    order = production.production_order_create(bom=bom, quantity=D(rng.randint(5, 15)), planned_date=day, actor=actor)
    try:
        production.production_order_start(order=order, actor=actor, at=_aware(day, 9))
    except ApplicationError:
        production.production_order_cancel(order=order, actor=actor)
        return 1
    production.production_order_complete(order=order, actor=actor, at=_aware(day + dt.timedelta(days=1), 16))
    return 1


def _sell(rng, customer, sellable, services, day: dt.date, today: dt.date, actor: Any) -> int:
    lines = [
        {"product": product, "quantity": D(rng.randint(1, 6)), "discount_percent": D(rng.choice([0, 0, 0, 5, 10]))}
        for product in rng.sample(sellable, rng.randint(1, 4))
    ]
    if rng.random() < 0.15:
        lines.append({"product": rng.choice(services), "quantity": D(1)})
    order = sales.sales_order_create(customer=customer, lines=lines, order_date=day, actor=actor)
    age = (today - day).days
    if rng.random() < 0.04:
        sales.sales_order_cancel(order=order, actor=actor)
        return 1
    if age < 2 and rng.random() < 0.5:
        return 1  # recent drafts
    try:
        sales.sales_order_confirm(order=order, actor=actor)
    except ApplicationError:
        sales.sales_order_cancel(order=order, actor=actor)
        return 1
    if age < 4 and rng.random() < 0.5:
        return 1
    sales.sales_order_deliver(order=order, actor=actor, at=_aware(min(today, day + dt.timedelta(days=1))))
    invoice = sales.sales_order_invoice(order=order, actor=actor, invoice_date=min(today, day + dt.timedelta(days=2)))
    pay_day = invoice.due_date - dt.timedelta(days=rng.randint(-20, 10))
    if pay_day <= today and rng.random() < 0.9:
        amount = invoice.total if rng.random() < 0.85 else (invoice.total / 2).quantize(D("0.01"))
        finance.payment_register(invoice=invoice, amount=amount, date=max(invoice.invoice_date, pay_day), actor=actor)
    return 1


def _running_costs(day: dt.date, actor: Any) -> None:
    for code, amount, memo in (
        ("6000", "42000.00", "Salaries"),
        ("6200", "9000.00", "Rent"),
        ("6300", "1800.00", "Utilities"),
    ):
        finance.journal_post(
            date=day,
            lines=[{"account": code, "debit": amount}, {"account": "1010", "credit": amount}],
            memo=memo,
            actor=actor,
        )
