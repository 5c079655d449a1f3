from django.urls import path
from rest_framework.routers import DefaultRouter

from . import finance, inventory, master, production, purchasing, reports, sales

app_name = "erp-api"

router = DefaultRouter()
router.include_root_view = False
router.register("erp/tax-rates", master.TaxRateViewSet, basename="erp-tax-rate")
router.register("erp/product-categories", master.ProductCategoryViewSet, basename="erp-product-category")
router.register("erp/customers", master.CustomerViewSet, basename="erp-customer")
router.register("erp/suppliers", master.SupplierViewSet, basename="erp-supplier")
router.register("erp/products", master.ProductViewSet, basename="erp-product")
router.register("erp/warehouses", master.WarehouseViewSet, basename="erp-warehouse")
router.register("erp/locations", master.LocationViewSet, basename="erp-location")
router.register("erp/stock-levels", inventory.StockLevelViewSet, basename="erp-stock-level")
router.register("erp/stock-moves", inventory.StockMoveViewSet, basename="erp-stock-move")
router.register("erp/sales-orders", sales.SalesOrderViewSet, basename="erp-sales-order")
router.register("erp/deliveries", sales.DeliveryViewSet, basename="erp-delivery")
router.register("erp/purchase-orders", purchasing.PurchaseOrderViewSet, basename="erp-purchase-order")
router.register("erp/receipts", purchasing.ReceiptViewSet, basename="erp-receipt")
router.register("erp/boms", production.BomViewSet, basename="erp-bom")
router.register("erp/production-orders", production.ProductionOrderViewSet, basename="erp-production-order")
router.register("erp/accounts", finance.AccountViewSet, basename="erp-account")
router.register("erp/journal-entries", finance.JournalEntryViewSet, basename="erp-journal-entry")
router.register("erp/invoices", finance.InvoiceViewSet, basename="erp-invoice")
router.register("erp/payments", finance.PaymentViewSet, basename="erp-payment")

urlpatterns = [
    path("erp/reports/dashboard/", reports.DashboardView.as_view(), name="erp-report-dashboard"),
    path("erp/reports/trial-balance/", reports.TrialBalanceView.as_view(), name="erp-report-trial-balance"),
    path("erp/reports/profit-and-loss/", reports.ProfitAndLossView.as_view(), name="erp-report-profit-and-loss"),
    path("erp/reports/balance-sheet/", reports.BalanceSheetView.as_view(), name="erp-report-balance-sheet"),
    path("erp/reports/ar-aging/", reports.ReceivablesAgingView.as_view(), name="erp-report-ar-aging"),
    path("erp/reports/ap-aging/", reports.PayablesAgingView.as_view(), name="erp-report-ap-aging"),
    path("erp/reports/sales/", reports.SalesReportView.as_view(), name="erp-report-sales"),
    path(
        "erp/reports/inventory-valuation/",
        reports.InventoryValuationView.as_view(),
        name="erp-report-inventory-valuation",
    ),
    *router.urls,
]
