"""Small builders used across the ERP tests (they go through the services, like the API does)."""

from decimal import Decimal

from django.db.models import Sum

from apps.erp.models import JournalLine, StockLevel
from apps.erp.services.inventory import stock_adjust
from tests.erp.factories import main_stock


def receive_stock(product, quantity, unit_cost="60.00", location=None):
    return stock_adjust(
        product=product,
        location=location or main_stock(),
        quantity=Decimal(str(quantity)),
        unit_cost=Decimal(unit_cost),
        reason="opening",
        counter_account="opening_equity",
    )


def level(product, location=None):
    return StockLevel.objects.filter(product=product, location=location or main_stock()).first()


def account_balance(code):
    sums = JournalLine.objects.filter(account__code=code).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (sums["d"] or Decimal("0")) - (sums["c"] or Decimal("0"))


def assert_every_entry_balances():
    from django.db.models import F

    from apps.erp.models import JournalEntry

    unbalanced = JournalEntry.objects.annotate(d=Sum("lines__debit"), c=Sum("lines__credit")).exclude(d=F("c")).count()
    assert unbalanced == 0
