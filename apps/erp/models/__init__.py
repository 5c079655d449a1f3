"""ERP models, one module per area; everything is importable from ``apps.erp.models``."""

from django.utils.translation import gettext_lazy as _

from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions

from .finance import Account, Invoice, InvoiceLine, JournalEntry, JournalLine, Payment
from .inventory import StockLevel, StockMove
from .master import Customer, Location, Product, ProductCategory, Supplier, TaxRate, Warehouse
from .production import BillOfMaterials, BomLine, ProductionOrder
from .purchasing import PurchaseOrder, PurchaseOrderLine, Receipt, ReceiptLine
from .sales import Delivery, DeliveryLine, SalesOrder, SalesOrderLine
from .system import DocumentSequence, ErpDashboard, KpiSnapshot


class ErpPermission(PermissionHolder):
    """Holds the ERP system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("erp")
        verbose_name = _("ERP permission")
        verbose_name_plural = _("ERP permissions")


__all__ = [
    "Account",
    "BillOfMaterials",
    "BomLine",
    "Customer",
    "Delivery",
    "DeliveryLine",
    "DocumentSequence",
    "ErpDashboard",
    "ErpPermission",
    "Invoice",
    "InvoiceLine",
    "JournalEntry",
    "JournalLine",
    "KpiSnapshot",
    "Location",
    "Payment",
    "Product",
    "ProductCategory",
    "ProductionOrder",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "Receipt",
    "ReceiptLine",
    "SalesOrder",
    "SalesOrderLine",
    "StockLevel",
    "StockMove",
    "Supplier",
    "TaxRate",
    "Warehouse",
]
