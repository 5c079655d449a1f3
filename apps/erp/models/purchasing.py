"""Procure-to-pay: purchase orders with lines, and goods receipts."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TimeStampedModel

from ..choices import PurchaseOrderState
from .fields import cost_field, money_field, qty_field
from .master import Product, Supplier, TaxRate, Warehouse


class PurchaseOrder(TimeStampedModel):
    number = models.CharField(max_length=30, unique=True, verbose_name=_("number"))
    supplier = models.ForeignKey(
        Supplier, on_delete=models.PROTECT, related_name="purchase_orders", verbose_name=_("supplier")
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    state = models.CharField(
        max_length=24, choices=PurchaseOrderState.choices, default=PurchaseOrderState.DRAFT, verbose_name=_("state")
    )
    order_date = models.DateField(default=timezone.localdate, db_index=True, verbose_name=_("order date"))
    expected_date = models.DateField(null=True, blank=True, verbose_name=_("expected date"))
    supplier_reference = models.CharField(max_length=100, blank=True, verbose_name=_("supplier reference"))
    notes = models.TextField(blank=True, verbose_name=_("notes"))
    subtotal = money_field(verbose_name=_("subtotal"))
    tax_total = money_field(verbose_name=_("tax total"))
    total = money_field(verbose_name=_("total"))
    approved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("approved at"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("approved by"),
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
        ordering = ["-order_date", "-id"]
        indexes = [models.Index(fields=["state", "order_date"])]
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")

    def __str__(self) -> str:
        return self.number


class PurchaseOrderLine(models.Model):
    """One ordered product. ``quantity_cancelled`` is the unreceived remainder dropped when the order was closed
    short; ``quantity_due`` (ordered less cancelled) is what is received and billed, and ``net_amount``/``tax_amount``
    price it. ``quantity_billed`` never exceeds ``quantity_received``."""

    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    quantity = qty_field(verbose_name=_("quantity"))
    unit_price = money_field(verbose_name=_("unit price"))
    tax_rate = models.ForeignKey(TaxRate, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax rate"))
    net_amount = money_field(verbose_name=_("net amount"))
    tax_amount = money_field(verbose_name=_("tax amount"))
    quantity_received = qty_field(verbose_name=_("quantity received"))
    quantity_billed = qty_field(verbose_name=_("quantity billed"))
    quantity_cancelled = qty_field(verbose_name=_("quantity cancelled"))

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_po_line_qty_gt0"),
            models.CheckConstraint(condition=models.Q(unit_price__gte=0), name="erp_po_line_price_gte0"),
            models.CheckConstraint(
                condition=models.Q(quantity_received__lte=models.F("quantity")), name="erp_po_line_not_overreceived"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity_billed__gte=0, quantity_billed__lte=models.F("quantity_received")),
                name="erp_po_line_billed_within_received",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    quantity_cancelled__gte=0,
                    quantity_cancelled__lte=models.F("quantity") - models.F("quantity_received"),
                ),
                name="erp_po_line_cancelled_within_open",
            ),
        ]
        verbose_name = _("purchase order line")
        verbose_name_plural = _("purchase order lines")

    def __str__(self) -> str:
        return f"{self.order_id}: {self.quantity} x {self.product_id}"

    @property
    def quantity_due(self):
        """Ordered less cancelled: what is (or will be) received and billed."""
        return self.quantity - self.quantity_cancelled

    @property
    def quantity_to_bill(self):
        """Received but not yet billed."""
        return self.quantity_received - self.quantity_billed


class Receipt(TimeStampedModel):
    """A goods receipt note for one purchase order."""

    number = models.CharField(max_length=30, unique=True, verbose_name=_("number"))
    order = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="receipts", verbose_name=_("order"))
    received_at = models.DateTimeField(default=timezone.now, verbose_name=_("received at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")

    def __str__(self) -> str:
        return self.number


class ReceiptLine(models.Model):
    """Received quantity of one order line (quality inspection can later add accepted/rejected quantities)."""

    receipt = models.ForeignKey(Receipt, on_delete=models.CASCADE, related_name="lines", verbose_name=_("receipt"))
    order_line = models.ForeignKey(
        PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipt_lines", verbose_name=_("order line")
    )
    quantity = qty_field(verbose_name=_("quantity"))
    unit_cost = cost_field(verbose_name=_("unit cost"))

    class Meta:
        ordering = ["receipt_id", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_receipt_line_qty_gt0")]
        verbose_name = _("receipt line")
        verbose_name_plural = _("receipt lines")

    def __str__(self) -> str:
        return f"{self.receipt_id}: {self.quantity}"
