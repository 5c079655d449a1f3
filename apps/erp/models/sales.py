"""Order-to-cash: sales orders with lines, and the delivery notes that ship them."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.caching import VersionedManager
from apps.core.models import TimeStampedModel

from ..choices import SalesOrderState
from .fields import cost_field, money_field, percent_field, qty_field
from .master import Customer, Product, TaxRate, Warehouse


class SalesOrder(TimeStampedModel):
    number = models.CharField(max_length=30, unique=True, verbose_name=_("number"))
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="sales_orders", verbose_name=_("customer")
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    state = models.CharField(
        max_length=24, choices=SalesOrderState.choices, default=SalesOrderState.DRAFT, verbose_name=_("state")
    )
    order_date = models.DateField(default=timezone.localdate, db_index=True, verbose_name=_("order date"))
    customer_reference = models.CharField(max_length=100, blank=True, verbose_name=_("customer reference"))
    notes = models.TextField(blank=True, verbose_name=_("notes"))
    subtotal = money_field(verbose_name=_("subtotal"))
    tax_total = money_field(verbose_name=_("tax total"))
    total = money_field(verbose_name=_("total"))
    confirmed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("confirmed at"))
    cancelled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancelled at"))
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
        ordering = ["-order_date", "-id"]
        indexes = [models.Index(fields=["state", "order_date"])]
        verbose_name = _("sales order")
        verbose_name_plural = _("sales orders")

    def __str__(self) -> str:
        return self.number


class SalesOrderLine(models.Model):
    """One ordered product. ``quantity`` is what was ordered; ``quantity_cancelled`` is the undelivered remainder
    dropped when the order was closed short, so ``quantity_due`` (ordered less cancelled) is what the customer gets
    and pays for, and ``net_amount``/``tax_amount`` price that due quantity. ``quantity_invoiced`` never exceeds
    ``quantity_delivered``."""

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    quantity = qty_field(verbose_name=_("quantity"))
    unit_price = money_field(verbose_name=_("unit price"))
    discount_percent = percent_field(verbose_name=_("discount percent"))
    tax_rate = models.ForeignKey(TaxRate, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax rate"))
    net_amount = money_field(verbose_name=_("net amount"))
    tax_amount = money_field(verbose_name=_("tax amount"))
    quantity_reserved = qty_field(verbose_name=_("quantity reserved"))
    quantity_delivered = qty_field(verbose_name=_("quantity delivered"))
    quantity_invoiced = qty_field(verbose_name=_("quantity invoiced"))
    quantity_cancelled = qty_field(verbose_name=_("quantity cancelled"))

    objects = VersionedManager()

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_so_line_qty_gt0"),
            models.CheckConstraint(condition=models.Q(unit_price__gte=0), name="erp_so_line_price_gte0"),
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=0, discount_percent__lte=100), name="erp_so_line_discount"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity_delivered__lte=models.F("quantity")), name="erp_so_line_not_overdelivered"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity_invoiced__gte=0, quantity_invoiced__lte=models.F("quantity_delivered")),
                name="erp_so_line_invoiced_within_delivered",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    quantity_cancelled__gte=0,
                    quantity_cancelled__lte=models.F("quantity") - models.F("quantity_delivered"),
                ),
                name="erp_so_line_cancelled_within_open",
            ),
        ]
        verbose_name = _("sales order line")
        verbose_name_plural = _("sales order lines")

    def __str__(self) -> str:
        return f"{self.order_id}: {self.quantity} x {self.product_id}"

    @property
    def quantity_due(self):
        """Ordered less cancelled: what is (or will be) delivered and invoiced."""
        return self.quantity - self.quantity_cancelled

    @property
    def quantity_to_invoice(self):
        """Delivered but not yet invoiced."""
        return self.quantity_delivered - self.quantity_invoiced


class Delivery(TimeStampedModel):
    """A delivery note: what left the warehouse for one sales order."""

    number = models.CharField(max_length=30, unique=True, verbose_name=_("number"))
    order = models.ForeignKey(SalesOrder, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("order"))
    delivered_at = models.DateTimeField(default=timezone.now, verbose_name=_("delivered at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["-delivered_at", "-id"]
        verbose_name_plural = _("deliveries")
        verbose_name = _("delivery")

    def __str__(self) -> str:
        return self.number


class DeliveryLine(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="lines", verbose_name=_("delivery"))
    order_line = models.ForeignKey(
        SalesOrderLine, on_delete=models.PROTECT, related_name="delivery_lines", verbose_name=_("order line")
    )
    quantity = qty_field(verbose_name=_("quantity"))
    unit_cost = cost_field(verbose_name=_("unit cost"))

    class Meta:
        ordering = ["delivery_id", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_delivery_line_qty_gt0")]
        verbose_name = _("delivery line")
        verbose_name_plural = _("delivery lines")

    def __str__(self) -> str:
        return f"{self.delivery_id}: {self.quantity}"
