"""The stock ledger: immutable moves, and the cached level per product and location they keep current."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.caching import VersionedManager

from ..choices import MoveKind
from .fields import cost_field, qty_field
from .master import Location, Product


class ImmutableRecord(Exception):
    pass


class StockMove(models.Model):
    """One quantity change. Never edited or deleted (a database trigger refuses it too); corrections are new moves."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="moves", verbose_name=_("product"))
    kind = models.CharField(max_length=24, choices=MoveKind.choices, db_index=True, verbose_name=_("kind"))
    quantity = qty_field(verbose_name=_("quantity"))
    unit_cost = cost_field(verbose_name=_("unit cost"))
    source = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="moves_out", verbose_name=_("source"))
    destination = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="moves_in", verbose_name=_("destination")
    )
    reference = models.CharField(
        max_length=64, blank=True, db_index=True, help_text=_("Document that caused it."), verbose_name=_("reference")
    )
    reference_type = models.CharField(max_length=40, blank=True, verbose_name=_("reference type"))
    reference_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("reference id"))
    note = models.CharField(max_length=255, blank=True, verbose_name=_("note"))
    moved_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("moved at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["-moved_at", "-id"]
        indexes = [
            models.Index(fields=["product", "moved_at"]),
            models.Index(fields=["reference_type", "reference_id"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="erp_move_quantity_gt0"),
            models.CheckConstraint(condition=models.Q(unit_cost__gte=0), name="erp_move_cost_gte0"),
            models.CheckConstraint(condition=~models.Q(source=models.F("destination")), name="erp_move_distinct_locs"),
        ]
        verbose_name = _("stock move")
        verbose_name_plural = _("stock moves")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity} x {self.product_id} {self.source_id}->{self.destination_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRecord(gettext("Stock moves cannot be changed; post a correcting move."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(gettext("Stock moves cannot be deleted; post a correcting move."))


class StockLevel(models.Model):
    """Cached on-hand and reserved quantity of a product at an internal location (updated with the moves)."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="levels", verbose_name=_("product"))
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="levels", verbose_name=_("location"))
    on_hand = qty_field(verbose_name=_("on hand"))
    reserved = qty_field(verbose_name=_("reserved"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    objects = VersionedManager()

    class Meta:
        ordering = ["product_id", "location_id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "location"], name="erp_stock_level_unique"),
            models.CheckConstraint(condition=models.Q(reserved__gte=0), name="erp_stock_reserved_gte0"),
        ]
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")

    def __str__(self) -> str:
        return f"{self.product_id}@{self.location_id}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available(self):
        return self.on_hand - self.reserved
