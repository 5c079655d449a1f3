"""Master data: partners, products and their taxes and categories, warehouses and locations."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_cryptography.fields import encrypt

from apps.core.caching import VersionedManager
from apps.core.models import TimeStampedModel

from ..choices import LocationKind, ProductKind
from .fields import ZERO, cost_field, money_field, percent_field, qty_field


class TaxRate(TimeStampedModel):
    code = models.CharField(max_length=20, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    rate = percent_field(
        validators=[MinValueValidator(ZERO), MaxValueValidator(100)],
        help_text=_("Percent, e.g. 13.00"),
        verbose_name=_("rate"),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        ordering = ["-rate", "code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rate__gte=0, rate__lte=100), name="erp_tax_rate_range")
        ]
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")

    def __str__(self) -> str:
        return f"{self.name} ({self.rate}%)"


class ProductCategory(TimeStampedModel):
    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("product categories")
        verbose_name = _("product category")

    def __str__(self) -> str:
        return self.name


class Partner(TimeStampedModel):
    code = models.CharField(max_length=30, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=200, db_index=True, verbose_name=_("name"))
    contact_name = models.CharField(max_length=150, blank=True, verbose_name=_("contact name"))
    email = models.EmailField(blank=True, verbose_name=_("email"))
    phone = models.CharField(max_length=50, blank=True, verbose_name=_("phone"))
    billing_address = models.TextField(blank=True, verbose_name=_("billing address"))
    shipping_address = models.TextField(blank=True, verbose_name=_("shipping address"))
    tax_id = encrypt(models.CharField(max_length=50, blank=True, default="", verbose_name=_("tax id")))
    bank_account = encrypt(models.CharField(max_length=80, blank=True, default="", verbose_name=_("bank account")))
    payment_terms_days = models.PositiveIntegerField(
        default=30, validators=[MaxValueValidator(365)], verbose_name=_("payment terms days")
    )
    active = models.BooleanField(default=True, db_index=True, verbose_name=_("active"))

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Customer(Partner):
    credit_limit = money_field(
        validators=[MinValueValidator(ZERO)], help_text=_("0 means no limit."), verbose_name=_("credit limit")
    )

    objects = VersionedManager()

    class Meta(Partner.Meta):
        constraints = [models.CheckConstraint(condition=models.Q(credit_limit__gte=0), name="erp_customer_credit_gte0")]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")


class Supplier(Partner):
    objects = VersionedManager()

    class Meta(Partner.Meta):
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")


class Product(TimeStampedModel):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(max_length=200, db_index=True, verbose_name=_("name"))
    kind = models.CharField(
        max_length=20, choices=ProductKind.choices, default=ProductKind.STOCKABLE, verbose_name=_("kind")
    )
    uom = models.CharField(_("unit of measure"), max_length=20, default="pcs")
    category = models.ForeignKey(
        ProductCategory, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("category")
    )
    barcode = models.CharField(max_length=64, blank=True, db_index=True, verbose_name=_("barcode"))
    sale_price = money_field(validators=[MinValueValidator(ZERO)], verbose_name=_("sale price"))
    standard_cost = money_field(validators=[MinValueValidator(ZERO)], verbose_name=_("standard cost"))
    average_cost = cost_field(
        editable=False,
        help_text=_("Moving-average cost, maintained by the stock ledger."),
        verbose_name=_("average cost"),
    )
    reorder_point = qty_field(validators=[MinValueValidator(ZERO)], verbose_name=_("reorder point"))
    reorder_quantity = qty_field(validators=[MinValueValidator(ZERO)], verbose_name=_("reorder quantity"))
    tax_rate = models.ForeignKey(
        TaxRate, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax rate")
    )
    default_supplier = models.ForeignKey(
        Supplier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("default supplier")
    )
    active = models.BooleanField(default=True, db_index=True, verbose_name=_("active"))

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
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def is_tracked(self) -> bool:
        """Whether quantities of this product are tracked in the stock ledger."""
        return self.kind != ProductKind.SERVICE


class Warehouse(TimeStampedModel):
    code = models.CharField(max_length=20, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    address = models.TextField(blank=True, verbose_name=_("address"))
    active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Location(TimeStampedModel):
    """A place stock can be: an internal bin of a warehouse, or a virtual partner/production/adjustment location."""

    warehouse = models.ForeignKey(
        Warehouse,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="locations",
        verbose_name=_("warehouse"),
    )
    code = models.CharField(max_length=40, verbose_name=_("code"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    kind = models.CharField(
        max_length=20, choices=LocationKind.choices, default=LocationKind.INTERNAL, verbose_name=_("kind")
    )
    is_default = models.BooleanField(
        default=False, help_text=_("The warehouse's main stock location."), verbose_name=_("is default")
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))

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
        verbose_name = _("location")
        verbose_name_plural = _("locations")

    def __str__(self) -> str:
        return self.code
