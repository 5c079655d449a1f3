"""Double-entry finance: chart of accounts, journal entries, invoices/bills and payments."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.caching import VersionedManager
from apps.core.models import TimeStampedModel

from ..choices import AccountType, EntrySource, InvoiceKind, InvoiceState, PaymentMethod
from .fields import money_field, percent_field, qty_field
from .master import Customer, Product, Supplier, TaxRate
from .purchasing import PurchaseOrder, PurchaseOrderLine
from .sales import SalesOrder, SalesOrderLine

DEBIT_NORMAL = (AccountType.ASSET, AccountType.EXPENSE)


class Account(TimeStampedModel):
    code = models.CharField(max_length=20, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=150, verbose_name=_("name"))
    type = models.CharField(max_length=20, choices=AccountType.choices, db_index=True, verbose_name=_("type"))
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))

    objects = VersionedManager()

    class Meta:
        ordering = ["code"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL


class JournalEntry(models.Model):
    """A posted entry. Lines are append-only and must balance (checked by the posting service and, at commit, by a
    deferred database trigger); corrections are reversals."""

    number = models.CharField(max_length=30, unique=True, verbose_name=_("number"))
    date = models.DateField(db_index=True, verbose_name=_("date"))
    memo = models.CharField(max_length=255, blank=True, verbose_name=_("memo"))
    source = models.CharField(
        max_length=24, choices=EntrySource.choices, default=EntrySource.MANUAL, db_index=True, verbose_name=_("source")
    )
    reference = models.CharField(max_length=64, blank=True, db_index=True, verbose_name=_("reference"))
    reversal_of = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        verbose_name=_("reversal of"),
    )
    posted_at = models.DateTimeField(default=timezone.now, verbose_name=_("posted at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name_plural = _("journal entries")
        verbose_name = _("journal entry")

    def __str__(self) -> str:
        return self.number


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines", verbose_name=_("entry"))
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines", verbose_name=_("account"))
    debit = money_field(verbose_name=_("debit"))
    credit = money_field(verbose_name=_("credit"))
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))

    objects = VersionedManager()

    class Meta:
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(debit__gt=0, credit=0) | models.Q(debit=0, credit__gt=0)),
                name="erp_journal_line_one_side",
            ),
        ]
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")

    def __str__(self) -> str:
        return f"{self.account_id} D{self.debit} C{self.credit}"


class Invoice(TimeStampedModel):
    """A customer invoice or a supplier bill, posted on creation, paid by one or more payments."""

    number = models.CharField(max_length=30, unique=True, verbose_name=_("number"))
    kind = models.CharField(max_length=10, choices=InvoiceKind.choices, db_index=True, verbose_name=_("kind"))
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("customer")
    )
    supplier = models.ForeignKey(
        Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="bills", verbose_name=_("supplier")
    )
    sales_order = models.ForeignKey(
        SalesOrder,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
        verbose_name=_("sales order"),
    )
    purchase_order = models.ForeignKey(
        PurchaseOrder,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bills",
        verbose_name=_("purchase order"),
    )
    state = models.CharField(
        max_length=10, choices=InvoiceState.choices, default=InvoiceState.OPEN, db_index=True, verbose_name=_("state")
    )
    invoice_date = models.DateField(db_index=True, verbose_name=_("invoice date"))
    due_date = models.DateField(db_index=True, verbose_name=_("due date"))
    subtotal = money_field(verbose_name=_("subtotal"))
    tax_total = money_field(verbose_name=_("tax total"))
    total = money_field(verbose_name=_("total"))
    amount_paid = money_field(verbose_name=_("amount paid"))
    is_overdue = models.BooleanField(default=False, db_index=True, verbose_name=_("is overdue"))
    journal_entry = models.OneToOneField(
        JournalEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice",
        verbose_name=_("journal entry"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
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
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")

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

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice"))
    sales_order_line = models.ForeignKey(
        SalesOrderLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
        verbose_name=_("sales order line"),
    )
    purchase_order_line = models.ForeignKey(
        PurchaseOrderLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
        verbose_name=_("purchase order line"),
    )
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    quantity = qty_field(verbose_name=_("quantity"))
    unit_price = money_field(verbose_name=_("unit price"))
    discount_percent = percent_field(verbose_name=_("discount percent"))
    tax_rate = models.ForeignKey(TaxRate, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax rate"))
    net_amount = money_field(verbose_name=_("net amount"))
    tax_amount = money_field(verbose_name=_("tax amount"))

    class Meta:
        ordering = ["invoice_id", "id"]
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.quantity} x {self.product_id}"


class Payment(TimeStampedModel):
    number = models.CharField(max_length=30, unique=True, verbose_name=_("number"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments", verbose_name=_("invoice"))
    amount = money_field(verbose_name=_("amount"))
    date = models.DateField(db_index=True, verbose_name=_("date"))
    method = models.CharField(
        max_length=10, choices=PaymentMethod.choices, default=PaymentMethod.BANK, verbose_name=_("method")
    )
    reference = models.CharField(max_length=100, blank=True, verbose_name=_("reference"))
    journal_entry = models.OneToOneField(
        JournalEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment",
        verbose_name=_("journal entry"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="erp_payment_amount_gt0")]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return self.number
