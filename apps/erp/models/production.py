"""Production: bills of materials and production orders."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import TimeStampedModel

from ..choices import ProductionState
from .fields import ZERO, cost_field, percent_field, qty_field
from .master import Product, Warehouse


class BillOfMaterials(TimeStampedModel):
    code = models.CharField(max_length=40, unique=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="boms")
    output_quantity = qty_field(default=1, help_text="Finished quantity the component lines make.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "bill of materials"
        verbose_name_plural = "bills of materials"
        constraints = [models.CheckConstraint(condition=models.Q(output_quantity__gt=0), name="erp_bom_output_gt0")]

    def __str__(self) -> str:
        return f"{self.code} ({self.product_id})"


class BomLine(models.Model):
    bom = models.ForeignKey(BillOfMaterials, on_delete=models.CASCADE, related_name="lines")
    component = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = qty_field()
    scrap_percent = percent_field(validators=[MinValueValidator(ZERO), MaxValueValidator(99)])

    class Meta:
        ordering = ["bom_id", "id"]
        verbose_name = "BOM line"
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_bom_line_qty_gt0"),
            models.CheckConstraint(
                condition=models.Q(scrap_percent__gte=0, scrap_percent__lt=100), name="erp_bom_line_scrap"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.component_id}"


class ProductionOrder(TimeStampedModel):
    number = models.CharField(max_length=30, unique=True)
    bom = models.ForeignKey(BillOfMaterials, on_delete=models.PROTECT, related_name="production_orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = qty_field()
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=20, choices=ProductionState.choices, default=ProductionState.PLANNED)
    planned_date = models.DateField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    unit_cost = cost_field(help_text="Rolled-up cost per finished unit, set on completion.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_production_qty_gt0")]

    def __str__(self) -> str:
        return self.number
