"""Double-entry finance: chart of accounts, journal entries, invoices/bills and payments."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.caching import VersionedManager
from apps.core.models import TimeStampedModel

from ..choices import AccountType, EntrySource, InvoiceKind, InvoiceState, PaymentMethod
from .fields import money_field, percent_field, qty_field
from .master import Customer, Product, Supplier, TaxRate
from .purchasing import PurchaseOrder, PurchaseOrderLine
from .sales import SalesOrder, SalesOrderLine

DEBIT_NORMAL = (AccountType.ASSET, AccountType.EXPENSE)


class Account(TimeStampedModel):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=150)
    type = models.CharField(max_length=20, choices=AccountType.choices, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    active = models.BooleanField(default=True)

    objects = VersionedManager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL


class JournalEntry(models.Model):
    """A posted entry. Lines are append-only and must balance (checked by the posting service and, at commit, by a
    deferred database trigger); corrections are reversals."""

    number = models.CharField(max_length=30, unique=True)
    date = models.DateField(db_index=True)
    memo = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=24, choices=EntrySource.choices, default=EntrySource.MANUAL, db_index=True)
    reference = models.CharField(max_length=64, blank=True, db_index=True)
    reversal_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    posted_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return self.number


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    debit = money_field()
    credit = money_field()
    description = models.CharField(max_length=255, blank=True)

    objects = VersionedManager()

    class Meta:
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(debit__gt=0, credit=0) | models.Q(debit=0, credit__gt=0)),
                name="erp_journal_line_one_side",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} D{self.debit} C{self.credit}"


class Invoice(TimeStampedModel):
    """A customer invoice or a supplier bill, posted on creation, paid by one or more payments."""

    number = models.CharField(max_length=30, unique=True)
    kind = models.CharField(max_length=10, choices=InvoiceKind.choices, db_index=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="bills")
    sales_order = models.ForeignKey(
        SalesOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    purchase_order = models.ForeignKey(
        PurchaseOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="bills"
    )
    state = models.CharField(max_length=10, choices=InvoiceState.choices, default=InvoiceState.OPEN, db_index=True)
    invoice_date = models.DateField(db_index=True)
    due_date = models.DateField(db_index=True)
    subtotal = money_field()
    tax_total = money_field()
    total = money_field()
    amount_paid = money_field()
    is_overdue = models.BooleanField(default=False, db_index=True)
    journal_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VersionedManager()

    class Meta:
        ordering = ["-invoice_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="customer", customer__isnull=False, supplier__isnull=True)
                    | models.Q(kind="supplier", supplier__isnull=False, customer__isnull=True)
                ),
                name="erp_invoice_partner_matches_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_paid__gte=0, amount_paid__lte=models.F("total")),
                name="erp_invoice_paid_within_total",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def amount_open(self):
        return self.total - self.amount_paid

    @property
    def partner(self):
        return self.customer if self.kind == InvoiceKind.CUSTOMER else self.supplier


class InvoiceLine(models.Model):
    """One invoiced quantity; ``sales_order_line``/``purchase_order_line`` name the order line it bills, so an order
    invoiced in several parts can tell what each invoice covered."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    sales_order_line = models.ForeignKey(
        SalesOrderLine, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    purchase_order_line = models.ForeignKey(
        PurchaseOrderLine, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=255, blank=True)
    quantity = qty_field()
    unit_price = money_field()
    discount_percent = percent_field()
    tax_rate = models.ForeignKey(TaxRate, on_delete=models.PROTECT, related_name="+")
    net_amount = money_field()
    tax_amount = money_field()

    class Meta:
        ordering = ["invoice_id", "id"]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.quantity} x {self.product_id}"


class Payment(TimeStampedModel):
    number = models.CharField(max_length=30, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = money_field()
    date = models.DateField(db_index=True)
    method = models.CharField(max_length=10, choices=PaymentMethod.choices, default=PaymentMethod.BANK)
    reference = models.CharField(max_length=100, blank=True)
    journal_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="erp_payment_amount_gt0")]

    def __str__(self) -> str:
        return self.number
