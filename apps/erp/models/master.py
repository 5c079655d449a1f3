"""Master data: partners, products and their taxes and categories, warehouses and locations."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django_cryptography.fields import encrypt

from apps.core.caching import VersionedManager
from apps.core.models import TimeStampedModel

from ..choices import LocationKind, ProductKind
from .fields import ZERO, cost_field, money_field, percent_field, qty_field


class TaxRate(TimeStampedModel):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    rate = percent_field(validators=[MinValueValidator(ZERO), MaxValueValidator(100)], help_text="Percent, e.g. 13.00")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-rate", "code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rate__gte=0, rate__lte=100), name="erp_tax_rate_range")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.rate}%)"


class ProductCategory(TimeStampedModel):
    name = models.CharField(max_length=100, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "product categories"

    def __str__(self) -> str:
        return self.name


class Partner(TimeStampedModel):
    code = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=200, db_index=True)
    contact_name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    billing_address = models.TextField(blank=True)
    shipping_address = models.TextField(blank=True)
    tax_id = encrypt(models.CharField(max_length=50, blank=True, default=""))
    bank_account = encrypt(models.CharField(max_length=80, blank=True, default=""))
    payment_terms_days = models.PositiveIntegerField(default=30, validators=[MaxValueValidator(365)])
    active = models.BooleanField(default=True, db_index=True)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Customer(Partner):
    credit_limit = money_field(validators=[MinValueValidator(ZERO)], help_text="0 means no limit.")

    objects = VersionedManager()

    class Meta(Partner.Meta):
        constraints = [models.CheckConstraint(condition=models.Q(credit_limit__gte=0), name="erp_customer_credit_gte0")]


class Supplier(Partner):
    objects = VersionedManager()

    class Meta(Partner.Meta):
        pass


class Product(TimeStampedModel):
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=20, choices=ProductKind.choices, default=ProductKind.STOCKABLE)
    uom = models.CharField("unit of measure", max_length=20, default="pcs")
    category = models.ForeignKey(ProductCategory, null=True, blank=True, on_delete=models.PROTECT)
    barcode = models.CharField(max_length=64, blank=True, db_index=True)
    sale_price = money_field(validators=[MinValueValidator(ZERO)])
    standard_cost = money_field(validators=[MinValueValidator(ZERO)])
    average_cost = cost_field(editable=False, help_text="Moving-average cost, maintained by the stock ledger.")
    reorder_point = qty_field(validators=[MinValueValidator(ZERO)])
    reorder_quantity = qty_field(validators=[MinValueValidator(ZERO)])
    tax_rate = models.ForeignKey(TaxRate, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    default_supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    active = models.BooleanField(default=True, db_index=True)

    objects = VersionedManager()  # product reads are cached; every write path invalidates them

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sale_price__gte=0, standard_cost__gte=0, average_cost__gte=0),
                name="erp_product_prices_gte0",
            ),
            models.CheckConstraint(
                condition=models.Q(reorder_point__gte=0, reorder_quantity__gte=0), name="erp_product_reorder_gte0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def is_tracked(self) -> bool:
        """Whether quantities of this product are tracked in the stock ledger."""
        return self.kind != ProductKind.SERVICE


class Warehouse(TimeStampedModel):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    address = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Location(TimeStampedModel):
    """A place stock can be: an internal bin of a warehouse, or a virtual partner/production/adjustment location."""

    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="locations")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=LocationKind.choices, default=LocationKind.INTERNAL)
    is_default = models.BooleanField(default=False, help_text="The warehouse's main stock location.")
    active = models.BooleanField(default=True)

    objects = VersionedManager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code"], name="erp_location_code_unique"),
            models.UniqueConstraint(
                fields=["warehouse"], condition=models.Q(is_default=True), name="erp_location_one_default"
            ),
            models.CheckConstraint(
                condition=models.Q(kind="internal", warehouse__isnull=False) | ~models.Q(kind="internal"),
                name="erp_location_internal_has_warehouse",
            ),
        ]

    def __str__(self) -> str:
        return self.code
