"""Production: bills of materials and production orders."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import TimeStampedModel

from ..choices import ProductionState
from .fields import ZERO, cost_field, percent_field, qty_field
from .master import Product, Warehouse


class BillOfMaterials(TimeStampedModel):
    code = models.CharField(max_length=40, unique=True, verbose_name=_("code"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="boms", verbose_name=_("product"))
    output_quantity = qty_field(
        default=1, help_text=_("Finished quantity the component lines make."), verbose_name=_("output quantity")
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("bill of materials")
        verbose_name_plural = _("bills of materials")
        constraints = [models.CheckConstraint(condition=models.Q(output_quantity__gt=0), name="erp_bom_output_gt0")]

    def __str__(self) -> str:
        return f"{self.code} ({self.product_id})"


class BomLine(models.Model):
    bom = models.ForeignKey(BillOfMaterials, on_delete=models.CASCADE, related_name="lines", verbose_name=_("bom"))
    component = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("component"))
    quantity = qty_field(verbose_name=_("quantity"))
    scrap_percent = percent_field(
        validators=[MinValueValidator(ZERO), MaxValueValidator(99)], verbose_name=_("scrap percent")
    )

    class Meta:
        ordering = ["bom_id", "id"]
        verbose_name = _("BOM line")
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_bom_line_qty_gt0"),
            models.CheckConstraint(
                condition=models.Q(scrap_percent__gte=0, scrap_percent__lt=100), name="erp_bom_line_scrap"
            ),
        ]
        verbose_name_plural = _("BOM lines")

    def __str__(self) -> str:
        return f"{self.quantity} x {self.component_id}"


class ProductionOrder(TimeStampedModel):
    number = models.CharField(max_length=30, unique=True, verbose_name=_("number"))
    bom = models.ForeignKey(
        BillOfMaterials, on_delete=models.PROTECT, related_name="production_orders", verbose_name=_("bom")
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    quantity = qty_field(verbose_name=_("quantity"))
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    state = models.CharField(
        max_length=20, choices=ProductionState.choices, default=ProductionState.PLANNED, verbose_name=_("state")
    )
    planned_date = models.DateField(null=True, blank=True, verbose_name=_("planned date"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    unit_cost = cost_field(
        help_text=_("Rolled-up cost per finished unit, set on completion."), verbose_name=_("unit cost")
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
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_production_qty_gt0")]
        verbose_name = _("production order")
        verbose_name_plural = _("production orders")

    def __str__(self) -> str:
        return self.number
