"""ERP back office: master data with filters and search, orders with their lines and state-transition actions
(through the same services as the API), read-only ledgers, and the ERP dashboard."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from import_export import fields, resources
from import_export.admin import ExportActionMixin
from unfold.contrib.import_export.forms import ExportForm

from apps.core.admin_base import BaseModelAdmin, ReadOnlyModelAdmin
from apps.core.exceptions import ApplicationError

from .choices import DashboardPeriod
from .models import (
    Account,
    BillOfMaterials,
    BomLine,
    Customer,
    Delivery,
    DeliveryLine,
    ErpDashboard,
    IdempotencyKey,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    KpiSnapshot,
    Location,
    Payment,
    Product,
    ProductCategory,
    ProductionOrder,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    SalesOrder,
    SalesOrderLine,
    StockLevel,
    StockMove,
    Supplier,
    TaxRate,
    Warehouse,
)
from .selectors.dashboard import dashboard_kpis_cached
from .services import finance, production, purchasing, sales
from .services.imports import COLUMNS as IMPORT_COLUMNS
from .services.imports import master_data_import

READ, WRITE, APPROVE = "erp.read", "erp.write", "erp.approve"


def _run_on_each(
    request: HttpRequest, queryset: QuerySet[Any], label: str, func: Callable[[Any], Any], perm: str
) -> None:
    """Apply a service to each selected object; domain errors become admin messages."""
    if not request.user.has_perm(perm):
        messages.error(request, f"You need {perm} to {label}.")
        return
    done = 0
    for obj in queryset:
        try:
            func(obj)
            done += 1
        except ApplicationError as exc:
            messages.error(request, f"{obj}: {exc.message}")
    if done:
        messages.success(request, f"{label.capitalize()}: {done} done.")


class _ErpAdmin(BaseModelAdmin):
    permission_read = READ
    permission_write = WRITE


class CsvImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, UTF-8, with a header row.")
    skip_errors = forms.BooleanField(required=False, help_text="Import the good rows and report the bad ones.")


class MasterDataTransferMixin(ExportActionMixin):
    """Export (CSV/XLSX, django-import-export) of the selected rows, and an "Import CSV" page that goes through the
    same import service as ``manage.py erp_import`` (row-numbered errors, all or nothing, audited)."""

    import_kind: str = ""
    export_form_class = ExportForm
    change_list_template = "admin/erp/change_list_import.html"

    def get_urls(self) -> list[Any]:
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_import_csv"
        custom = [path("import-csv/", self.admin_site.admin_view(self.import_csv_view), name=name)]
        return custom + super().get_urls()

    def import_csv_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CsvImportForm(request.POST or None, request.FILES or None)
        result: dict[str, Any] | None = None
        errors: list[Any] = []
        if request.method == "POST" and form.is_valid():
            content = form.cleaned_data["file"].read().decode("utf-8", errors="replace")
            try:
                result = master_data_import(
                    kind=self.import_kind,
                    content=content,
                    skip_errors=form.cleaned_data["skip_errors"],
                    actor=request.user,
                )
                errors = result["errors"]
                messages.success(request, f"Imported {result['imported']} row(s).")
            except ApplicationError as exc:
                messages.error(request, exc.message)
                errors = exc.details if isinstance(exc.details, list) else [{"row": "-", "errors": [str(exc.details)]}]
        required, optional = IMPORT_COLUMNS[self.import_kind]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import {self.model._meta.verbose_name_plural}",
            "opts": self.model._meta,
            "form": form,
            "result": result,
            "errors": errors,
            "columns": ", ".join([*sorted(required), *sorted(optional)]),
        }
        return TemplateResponse(request, "admin/erp/import_csv.html", context)


class CustomerResource(resources.ModelResource):
    class Meta:
        model = Customer
        fields = [
            "code",
            "name",
            "email",
            "phone",
            "contact_name",
            "billing_address",
            "shipping_address",
            "payment_terms_days",
            "credit_limit",
            "active",
        ]  # tax id and bank account stay out of exports
        export_order = fields


class SupplierResource(resources.ModelResource):
    class Meta:
        model = Supplier
        fields = [
            "code",
            "name",
            "email",
            "phone",
            "contact_name",
            "billing_address",
            "shipping_address",
            "payment_terms_days",
            "active",
        ]
        export_order = fields


class ProductResource(resources.ModelResource):
    category = fields.Field(attribute="category__name", column_name="category")
    tax_code = fields.Field(attribute="tax_rate__code", column_name="tax_code")

    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "kind",
            "uom",
            "category",
            "barcode",
            "sale_price",
            "standard_cost",
            "average_cost",
            "reorder_point",
            "reorder_quantity",
            "tax_code",
            "active",
        ]
        export_order = fields


class _ErpLedgerAdmin(ReadOnlyModelAdmin):
    permission_read = READ


# --- Master data ----------------------------------------------------------------------------------------------------


@admin.register(TaxRate)
class TaxRateAdmin(_ErpAdmin):
    list_display = ["code", "name", "rate", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]


@admin.register(ProductCategory)
class ProductCategoryAdmin(_ErpAdmin):
    list_display = ["name", "parent"]
    search_fields = ["name"]


@admin.register(Customer)
class CustomerAdmin(MasterDataTransferMixin, _ErpAdmin):
    resource_classes = [CustomerResource]
    import_kind = "customers"
    list_display = ["code", "name", "email", "payment_terms_days", "credit_limit", "active"]
    list_filter = ["active", "payment_terms_days"]
    search_fields = ["code", "name", "email", "contact_name"]


@admin.register(Supplier)
class SupplierAdmin(MasterDataTransferMixin, _ErpAdmin):
    resource_classes = [SupplierResource]
    import_kind = "suppliers"
    list_display = ["code", "name", "email", "payment_terms_days", "active"]
    list_filter = ["active", "payment_terms_days"]
    search_fields = ["code", "name", "email", "contact_name"]


@admin.register(Product)
class ProductAdmin(MasterDataTransferMixin, _ErpAdmin):
    resource_classes = [ProductResource]
    import_kind = "products"
    list_display = ["sku", "name", "kind", "category", "sale_price", "average_cost", "reorder_point", "active"]
    list_filter = ["kind", "active", "category", "tax_rate"]
    search_fields = ["sku", "name", "barcode"]
    readonly_fields = ["average_cost"]
    list_select_related = ["category"]


class LocationInline(admin.TabularInline):
    model = Location
    extra = 0
    fields = ["code", "name", "kind", "is_default", "active"]


@admin.register(Warehouse)
class WarehouseAdmin(_ErpAdmin):
    list_display = ["code", "name", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    inlines = [LocationInline]


@admin.register(Location)
class LocationAdmin(_ErpAdmin):
    list_display = ["code", "name", "kind", "warehouse", "is_default", "active"]
    list_filter = ["kind", "active", "warehouse"]
    search_fields = ["code", "name"]


@admin.register(Account)
class AccountAdmin(_ErpAdmin):
    permission_write = APPROVE
    list_display = ["code", "name", "type", "active"]
    list_filter = ["type", "active"]
    search_fields = ["code", "name"]


# --- Ledgers (read-only) --------------------------------------------------------------------------------------------


@admin.register(StockMove)
class StockMoveAdmin(_ErpLedgerAdmin):
    list_display = ["moved_at", "kind", "product", "quantity", "unit_cost", "source", "destination", "reference"]
    list_filter = ["kind", "source", "destination"]
    search_fields = ["product__sku", "reference", "note"]
    list_select_related = ["product", "source", "destination"]
    date_hierarchy = "moved_at"


@admin.register(StockLevel)
class StockLevelAdmin(_ErpLedgerAdmin):
    list_display = ["product", "location", "on_hand", "reserved", "available", "updated_at"]
    list_filter = ["location"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "location"]


class JournalLineInline(admin.TabularInline):
    model = JournalLine
    extra = 0
    can_delete = False
    fields = ["account", "debit", "credit", "description"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(_ErpLedgerAdmin):
    list_display = ["number", "date", "source", "memo", "reference"]
    list_filter = ["source", "date"]
    search_fields = ["number", "memo", "reference"]
    date_hierarchy = "date"
    inlines = [JournalLineInline]
    actions = ["reverse_entries"]

    @admin.action(description="Reverse the selected entries")
    def reverse_entries(self, request: HttpRequest, queryset: QuerySet[JournalEntry]) -> None:
        _run_on_each(
            request, queryset, "reverse", lambda e: finance.journal_reverse(entry=e, actor=request.user), APPROVE
        )


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = ["product", "description", "quantity", "unit_price", "discount_percent", "tax_rate", "net_amount"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(_ErpLedgerAdmin):
    list_display = [
        "number",
        "kind",
        "customer",
        "supplier",
        "invoice_date",
        "due_date",
        "total",
        "amount_paid",
        "state",
    ]
    list_filter = ["kind", "state", "is_overdue"]
    search_fields = ["number", "customer__name", "supplier__name"]
    list_select_related = ["customer", "supplier"]
    date_hierarchy = "invoice_date"
    inlines = [InvoiceLineInline]


@admin.register(Payment)
class PaymentAdmin(_ErpLedgerAdmin):
    list_display = ["number", "invoice", "amount", "date", "method", "reference"]
    list_filter = ["method"]
    search_fields = ["number", "reference", "invoice__number"]
    list_select_related = ["invoice"]


# --- Orders ---------------------------------------------------------------------------------------------------------


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SalesOrderLineInline(_ReadOnlyInline):
    model = SalesOrderLine
    fields = [
        "product",
        "quantity",
        "unit_price",
        "discount_percent",
        "tax_rate",
        "net_amount",
        "tax_amount",
        "quantity_reserved",
        "quantity_delivered",
    ]
    readonly_fields = fields


class _OrderAdmin(_ErpAdmin):
    """Orders are created through the API (or the services); here they are reviewed and moved along."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SalesOrder)
class SalesOrderAdmin(_OrderAdmin):
    list_display = ["number", "customer", "order_date", "state", "total"]
    list_filter = ["state", "order_date", "warehouse"]
    search_fields = ["number", "customer__name", "customer__code"]
    list_select_related = ["customer"]
    date_hierarchy = "order_date"
    readonly_fields = ["number", "state", "subtotal", "tax_total", "total", "confirmed_at", "cancelled_at"]
    inlines = [SalesOrderLineInline]
    actions = ["confirm", "deliver", "invoice", "cancel"]

    @admin.action(description="Confirm (reserve stock)")
    def confirm(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request, queryset, "confirm", lambda o: sales.sales_order_confirm(order=o, actor=request.user), APPROVE
        )

    @admin.action(description="Deliver everything open")
    def deliver(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request, queryset, "deliver", lambda o: sales.sales_order_deliver(order=o, actor=request.user), WRITE
        )

    @admin.action(description="Invoice")
    def invoice(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request, queryset, "invoice", lambda o: sales.sales_order_invoice(order=o, actor=request.user), APPROVE
        )

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request, queryset, "cancel", lambda o: sales.sales_order_cancel(order=o, actor=request.user), APPROVE
        )


class DeliveryLineInline(_ReadOnlyInline):
    model = DeliveryLine
    fields = ["order_line", "quantity", "unit_cost"]
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(_ErpLedgerAdmin):
    list_display = ["number", "order", "delivered_at"]
    search_fields = ["number", "order__number"]
    inlines = [DeliveryLineInline]


class PurchaseOrderLineInline(_ReadOnlyInline):
    model = PurchaseOrderLine
    fields = ["product", "quantity", "unit_price", "tax_rate", "net_amount", "tax_amount", "quantity_received"]
    readonly_fields = fields


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(_OrderAdmin):
    list_display = ["number", "supplier", "order_date", "state", "total"]
    list_filter = ["state", "order_date", "warehouse"]
    search_fields = ["number", "supplier__name", "supplier__code"]
    list_select_related = ["supplier"]
    date_hierarchy = "order_date"
    readonly_fields = ["number", "state", "subtotal", "tax_total", "total", "approved_at", "approved_by"]
    inlines = [PurchaseOrderLineInline]
    actions = ["approve", "receive", "bill", "cancel"]

    @admin.action(description="Approve")
    def approve(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            "approve",
            lambda o: purchasing.purchase_order_approve(order=o, actor=request.user),
            APPROVE,
        )

    @admin.action(description="Receive everything open")
    def receive(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            "receive",
            lambda o: purchasing.purchase_order_receive(order=o, actor=request.user),
            WRITE,
        )

    @admin.action(description="Record the bill")
    def bill(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request, queryset, "bill", lambda o: purchasing.purchase_order_bill(order=o, actor=request.user), APPROVE
        )

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            "cancel",
            lambda o: purchasing.purchase_order_cancel(order=o, actor=request.user),
            APPROVE,
        )


class ReceiptLineInline(_ReadOnlyInline):
    model = ReceiptLine
    fields = ["order_line", "quantity", "unit_cost"]
    readonly_fields = fields


@admin.register(Receipt)
class ReceiptAdmin(_ErpLedgerAdmin):
    list_display = ["number", "order", "received_at"]
    search_fields = ["number", "order__number"]
    inlines = [ReceiptLineInline]


class BomLineInline(admin.TabularInline):
    model = BomLine
    extra = 1
    fields = ["component", "quantity", "scrap_percent"]


@admin.register(BillOfMaterials)
class BillOfMaterialsAdmin(_ErpAdmin):
    list_display = ["code", "product", "output_quantity", "active"]
    list_filter = ["active"]
    search_fields = ["code", "product__sku", "product__name"]
    inlines = [BomLineInline]


@admin.register(ProductionOrder)
class ProductionOrderAdmin(_OrderAdmin):
    list_display = ["number", "product", "quantity", "state", "unit_cost", "planned_date"]
    list_filter = ["state", "warehouse"]
    search_fields = ["number", "product__sku"]
    readonly_fields = ["number", "state", "started_at", "finished_at", "unit_cost"]
    actions = ["start", "complete", "cancel"]

    @admin.action(description="Start (reserve components)")
    def start(self, request: HttpRequest, queryset: QuerySet[ProductionOrder]) -> None:
        _run_on_each(
            request, queryset, "start", lambda o: production.production_order_start(order=o, actor=request.user), WRITE
        )

    @admin.action(description="Complete")
    def complete(self, request: HttpRequest, queryset: QuerySet[ProductionOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            "complete",
            lambda o: production.production_order_complete(order=o, actor=request.user),
            WRITE,
        )

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet[ProductionOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            "cancel",
            lambda o: production.production_order_cancel(order=o, actor=request.user),
            APPROVE,
        )


# --- System ---------------------------------------------------------------------------------------------------------


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(_ErpLedgerAdmin):
    list_display = ["created_at", "user", "endpoint", "key", "response_status"]
    search_fields = ["key", "endpoint"]
    list_select_related = ["user"]


@admin.register(KpiSnapshot)
class KpiSnapshotAdmin(_ErpLedgerAdmin):
    permission_read = APPROVE
    list_display = ["date", "created_at"]
    date_hierarchy = "date"


@admin.register(ErpDashboard)
class ErpDashboardAdmin(_ErpLedgerAdmin):
    """The ERP dashboard: KPIs and charts for a day, week, month, quarter or year."""

    permission_read = APPROVE
    icon = "dashboard"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        period = request.GET.get("period", DashboardPeriod.MONTH)
        if period not in DashboardPeriod.values:
            period = DashboardPeriod.MONTH
        kpis = dashboard_kpis_cached(period=period)
        peak = max([row["net_sales"] or 0 for row in kpis["sales_series"]] or [0]) or 1
        series = [{**row, "percent": int((row["net_sales"] or 0) * 100 / peak)} for row in kpis["sales_series"]]
        states_peak = max(kpis["orders_by_state"].values() or [0]) or 1
        states = [
            {"state": state, "count": count, "percent": int(count * 100 / states_peak)}
            for state, count in kpis["orders_by_state"].items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "ERP dashboard",
            "kpis": kpis,
            "series": series,
            "states": states,
            "periods": DashboardPeriod.choices,
            "period": period,
            "kpis_json": json.dumps(kpis, default=str),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/erp/dashboard.html", context)
