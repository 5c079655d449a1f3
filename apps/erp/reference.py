"""Reference data every installation has: Chinese VAT rates, a small-business chart of accounts, the virtual
stock locations and a main warehouse."""

from .models import Account, Location, TaxRate, Warehouse
from .services import finance

TAX_RATES = [
    ("VAT13", "VAT 13%", "13.00"),
    ("VAT9", "VAT 9%", "9.00"),
    ("VAT6", "VAT 6%", "6.00"),
    ("VAT3", "VAT 3% (small-scale)", "3.00"),
    ("VAT0", "VAT 0% (exempt/export)", "0.00"),
]

ACCOUNTS = [
    ("1010", "Bank and cash", "asset"),
    ("1100", "Accounts receivable", "asset"),
    ("1150", "Input VAT recoverable", "asset"),
    ("1200", "Inventory", "asset"),
    ("1210", "Work in progress", "asset"),
    ("1500", "Equipment and fixtures", "asset"),
    ("2000", "Accounts payable", "liability"),
    ("2050", "Goods received not invoiced", "liability"),
    ("2210", "Output VAT payable", "liability"),
    ("2500", "Bank loans", "liability"),
    ("3000", "Owner's capital", "equity"),
    ("3900", "Opening balance equity", "equity"),
    ("3950", "Retained earnings", "equity"),
    ("4000", "Sales revenue", "income"),
    ("4900", "Other income", "income"),
    ("5000", "Cost of goods sold", "expense"),
    ("5100", "Inventory adjustments", "expense"),
    ("6000", "Salaries and wages", "expense"),
    ("6100", "Purchases and supplies", "expense"),
    ("6200", "Rent", "expense"),
    ("6300", "Utilities", "expense"),
    ("6900", "Bank charges", "expense"),
]

VIRTUAL_LOCATIONS = [
    ("VIRTUAL/SUPPLIERS", "Suppliers", "supplier"),
    ("VIRTUAL/CUSTOMERS", "Customers", "customer"),
    ("VIRTUAL/PRODUCTION", "Production", "production"),
    ("VIRTUAL/ADJUSTMENT", "Inventory adjustment", "adjustment"),
]


def reference_data_ensure() -> None:
    """Create the seeded tax rates, chart of accounts, virtual locations and main warehouse when missing (the
    data migration does the same; this restores them after a database flush). Idempotent and cheap."""
    finance._ACCOUNT_CACHE.clear()
    if Account.objects.filter(code="1010").exists() and Location.objects.filter(code="WH/STOCK").exists():
        return
    for code, name, rate in TAX_RATES:
        TaxRate.objects.get_or_create(code=code, defaults={"name": name, "rate": rate})
    for code, name, type_ in ACCOUNTS:
        Account.objects.get_or_create(code=code, defaults={"name": name, "type": type_})
    for code, name, kind in VIRTUAL_LOCATIONS:
        Location.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})
    warehouse, _ = Warehouse.objects.get_or_create(code="WH", defaults={"name": "Main warehouse"})
    Location.objects.get_or_create(
        code="WH/STOCK", defaults={"name": "Main stock", "kind": "internal", "warehouse": warehouse, "is_default": True}
    )
