"""List filters of the ERP API (every list also has ``q``, ``search`` and ``ordering``)."""

import django_filters
from django.db.models import Exists, F, OuterRef
from django.utils.translation import gettext_lazy as _

from apps.core.filtersets import BaseFilterSet, UTCIsoDateTimeFilter

from .models import (
    Account,
    BillOfMaterials,
    Customer,
    Delivery,
    Invoice,
    JournalEntry,
    Location,
    Payment,
    Product,
    ProductCategory,
    ProductionOrder,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    SalesOrder,
    SalesOrderLine,
    StockLevel,
    StockMove,
    Supplier,
    TaxRate,
    Warehouse,
)


class TaxRateFilterSet(BaseFilterSet):
    q_fields = ("code", "name")

    class Meta:
        model = TaxRate
        fields = ["active", "code"]


class ProductCategoryFilterSet(BaseFilterSet):
    parent_id = django_filters.NumberFilter(field_name="parent_id")
    q_fields = ("name",)

    class Meta:
        model = ProductCategory
        fields = ["parent_id"]


class CustomerFilterSet(BaseFilterSet):
    q_fields = ("code", "name", "email", "contact_name")

    class Meta:
        model = Customer
        fields = ["active", "code"]


class SupplierFilterSet(BaseFilterSet):
    q_fields = ("code", "name", "email", "contact_name")

    class Meta:
        model = Supplier
        fields = ["active", "code"]


class ProductFilterSet(BaseFilterSet):
    category_id = django_filters.NumberFilter(field_name="category_id")
    tax_rate_id = django_filters.NumberFilter(field_name="tax_rate_id")
    default_supplier_id = django_filters.NumberFilter(field_name="default_supplier_id")
    q_fields = ("sku", "name", "barcode")

    class Meta:
        model = Product
        fields = ["kind", "active", "category_id", "tax_rate_id", "default_supplier_id", "barcode"]


class WarehouseFilterSet(BaseFilterSet):
    q_fields = ("code", "name")

    class Meta:
        model = Warehouse
        fields = ["active"]


class LocationFilterSet(BaseFilterSet):
    warehouse_id = django_filters.NumberFilter(field_name="warehouse_id")
    q_fields = ("code", "name")

    class Meta:
        model = Location
        fields = ["kind", "active", "warehouse_id", "is_default"]


class StockLevelFilterSet(BaseFilterSet):
    product_id = django_filters.NumberFilter(field_name="product_id")
    location_id = django_filters.NumberFilter(field_name="location_id")
    warehouse_id = django_filters.NumberFilter(field_name="location__warehouse_id")
    q_fields = ("product__sku", "product__name", "location__code")

    class Meta:
        model = StockLevel
        fields = ["product_id", "location_id", "warehouse_id"]


class StockMoveFilterSet(BaseFilterSet):
    product_id = django_filters.NumberFilter(field_name="product_id")
    source_id = django_filters.NumberFilter(field_name="source_id")
    destination_id = django_filters.NumberFilter(field_name="destination_id")
    since = UTCIsoDateTimeFilter(field_name="moved_at", lookup_expr="gte")
    until = UTCIsoDateTimeFilter(field_name="moved_at", lookup_expr="lt")
    q_fields = ("product__sku", "reference", "note")

    class Meta:
        model = StockMove
        fields = ["kind", "product_id", "source_id", "destination_id", "reference"]


class _OrderFilterSet(BaseFilterSet):
    warehouse_id = django_filters.NumberFilter(field_name="warehouse_id")
    date_from = django_filters.DateFilter(field_name="order_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="order_date", lookup_expr="lte")


def _lines_waiting(line_model, done_field: str, invoiced_field: str):
    """Orders with a line delivered (received) beyond what is invoiced (billed): ``?to_invoice=true`` / ``false``."""

    def apply(queryset, name, value):
        if value is None:
            return queryset
        waiting = Exists(line_model.objects.filter(order=OuterRef("pk"), **{f"{done_field}__gt": F(invoiced_field)}))
        return queryset.filter(waiting if value else ~waiting)

    return apply


class SalesOrderFilterSet(_OrderFilterSet):
    customer_id = django_filters.NumberFilter(field_name="customer_id")
    to_invoice = django_filters.BooleanFilter(
        method=_lines_waiting(SalesOrderLine, "quantity_delivered", "quantity_invoiced"),
        label=_("Has delivered quantities not yet invoiced"),
    )
    q_fields = ("number", "customer__name", "customer__code", "customer_reference")

    class Meta:
        model = SalesOrder
        fields = ["state", "customer_id", "warehouse_id"]


class PurchaseOrderFilterSet(_OrderFilterSet):
    supplier_id = django_filters.NumberFilter(field_name="supplier_id")
    to_bill = django_filters.BooleanFilter(
        method=_lines_waiting(PurchaseOrderLine, "quantity_received", "quantity_billed"),
        label=_("Has received quantities not yet billed"),
    )
    q_fields = ("number", "supplier__name", "supplier__code", "supplier_reference")

    class Meta:
        model = PurchaseOrder
        fields = ["state", "supplier_id", "warehouse_id"]


class DeliveryFilterSet(BaseFilterSet):
    order_id = django_filters.NumberFilter(field_name="order_id")
    q_fields = ("number", "order__number")

    class Meta:
        model = Delivery
        fields = ["order_id"]


class ReceiptFilterSet(BaseFilterSet):
    order_id = django_filters.NumberFilter(field_name="order_id")
    q_fields = ("number", "order__number")

    class Meta:
        model = Receipt
        fields = ["order_id"]


class BomFilterSet(BaseFilterSet):
    product_id = django_filters.NumberFilter(field_name="product_id")
    q_fields = ("code", "product__sku", "product__name")

    class Meta:
        model = BillOfMaterials
        fields = ["product_id", "active"]


class ProductionOrderFilterSet(BaseFilterSet):
    product_id = django_filters.NumberFilter(field_name="product_id")
    bom_id = django_filters.NumberFilter(field_name="bom_id")
    warehouse_id = django_filters.NumberFilter(field_name="warehouse_id")
    q_fields = ("number", "product__sku")

    class Meta:
        model = ProductionOrder
        fields = ["state", "product_id", "bom_id", "warehouse_id"]


class AccountFilterSet(BaseFilterSet):
    parent_id = django_filters.NumberFilter(field_name="parent_id")
    q_fields = ("code", "name")

    class Meta:
        model = Account
        fields = ["type", "active", "parent_id"]


class JournalEntryFilterSet(BaseFilterSet):
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")
    account_id = django_filters.NumberFilter(field_name="lines__account_id", distinct=True)
    q_fields = ("number", "memo", "reference")

    class Meta:
        model = JournalEntry
        fields = ["source", "reference", "account_id"]


class InvoiceFilterSet(BaseFilterSet):
    customer_id = django_filters.NumberFilter(field_name="customer_id")
    supplier_id = django_filters.NumberFilter(field_name="supplier_id")
    sales_order_id = django_filters.NumberFilter(field_name="sales_order_id")
    purchase_order_id = django_filters.NumberFilter(field_name="purchase_order_id")
    date_from = django_filters.DateFilter(field_name="invoice_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="invoice_date", lookup_expr="lte")
    q_fields = ("number", "customer__name", "supplier__name")

    class Meta:
        model = Invoice
        fields = ["kind", "state", "is_overdue", "customer_id", "supplier_id", "sales_order_id", "purchase_order_id"]


class PaymentFilterSet(BaseFilterSet):
    invoice_id = django_filters.NumberFilter(field_name="invoice_id")
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")
    q_fields = ("number", "reference", "invoice__number")

    class Meta:
        model = Payment
        fields = ["invoice_id", "method"]
