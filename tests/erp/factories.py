from decimal import Decimal

import factory

from apps.erp.models import (
    Account,
    BillOfMaterials,
    BomLine,
    Customer,
    Location,
    Product,
    ProductCategory,
    Supplier,
    TaxRate,
    Warehouse,
)


def vat(code: str = "VAT13") -> TaxRate:
    return TaxRate.objects.get(code=code)


def main_stock() -> Location:
    return Location.objects.get(code="WH/STOCK")


def account(code: str) -> Account:
    return Account.objects.get(code=code)


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxRate

    code = factory.Sequence(lambda n: f"T{n}")
    name = factory.LazyAttribute(lambda o: f"Tax {o.code}")
    rate = Decimal("10.00")


class ProductCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductCategory

    name = factory.Sequence(lambda n: f"Category {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    code = factory.Sequence(lambda n: f"C{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n} Ltd")
    email = factory.LazyAttribute(lambda o: f"{o.code.lower()}@example.com")
    tax_id = "91310000MA1FL0001X"
    bank_account = "6222 0000 1111 2222"
    payment_terms_days = 30
    credit_limit = Decimal("0")


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier

    code = factory.Sequence(lambda n: f"S{n:05d}")
    name = factory.Sequence(lambda n: f"Supplier {n} Co")
    payment_terms_days = 30


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    kind = "stockable"
    sale_price = Decimal("100.00")
    standard_cost = Decimal("60.00")
    tax_rate = factory.LazyFunction(vat)


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse

    code = factory.Sequence(lambda n: f"W{n}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    warehouse = factory.SubFactory(WarehouseFactory)
    code = factory.Sequence(lambda n: f"LOC/{n}")
    name = factory.Sequence(lambda n: f"Bin {n}")
    kind = "internal"


class BillOfMaterialsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BillOfMaterials

    code = factory.Sequence(lambda n: f"BOM-{n}")
    product = factory.SubFactory(ProductFactory)
    output_quantity = Decimal("1")


class BomLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BomLine

    bom = factory.SubFactory(BillOfMaterialsFactory)
    component = factory.SubFactory(ProductFactory)
    quantity = Decimal("1")
