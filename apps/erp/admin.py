"""ERP back office: master data with filters and search, orders with their lines and state-transition actions
(through the same services as the API), read-only ledgers, and the ERP dashboard."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, F, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources
from import_export.admin import ExportActionMixin
from unfold.contrib.import_export.forms import ExportForm

from apps.core.admin_base import BaseModelAdmin, BaseTabularInline, ReadOnlyModelAdmin, ReadOnlyTabularInline
from apps.core.exceptions import ApplicationError

from .choices import DashboardPeriod, ProductionState, PurchaseOrderState, SalesOrderState
from .models import (
    Account,
    BillOfMaterials,
    BomLine,
    Customer,
    Delivery,
    DeliveryLine,
    ErpDashboard,
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
from .services.imports import master_data_import, spreadsheet_to_csv
from .services.inventory import warehouse_create

READ, WRITE, APPROVE = "erp.read", "erp.write", "erp.approve"


def _run_on_each(
    request: HttpRequest, queryset: QuerySet[Any], label: Any, func: Callable[[Any], Any], perm: str
) -> None:
    """Apply a service to each selected object; domain errors become admin messages."""
    if not request.user.has_perm(perm):
        messages.error(
            request, gettext("You need %(permission)s to %(action)s.") % {"permission": perm, "action": label}
        )
        return
    done = 0
    for obj in queryset:
        try:
            func(obj)
            done += 1
        except ApplicationError as exc:
            messages.error(request, gettext("%(object)s: %(error)s") % {"object": obj, "error": exc.message})
    if done:
        messages.success(request, gettext("%(action)s: %(count)d done.") % {"action": capfirst(label), "count": done})


class _ErpAdmin(BaseModelAdmin):
    permission_read = READ
    permission_write = WRITE


class CsvImportForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("CSV (UTF-8) or XLSX (first sheet), with a header row."))
    skip_errors = forms.BooleanField(
        required=False, label=_("Skip errors"), help_text=_("Import the good rows and report the bad ones.")
    )


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
            upload = form.cleaned_data["file"]
            try:
                data = upload.read()
                is_xlsx = upload.name.lower().endswith(".xlsx") or data[:2] == b"PK"
                content = spreadsheet_to_csv(data) if is_xlsx else data.decode("utf-8", errors="replace")
                result = master_data_import(
                    kind=self.import_kind,
                    content=content,
                    skip_errors=form.cleaned_data["skip_errors"],
                    actor=request.user,
                )
                errors = result["errors"]
                messages.success(
                    request,
                    ngettext("Imported %(count)d row.", "Imported %(count)d rows.", result["imported"])
                    % {"count": result["imported"]},
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
                errors = exc.details if isinstance(exc.details, list) else [{"row": "-", "errors": [str(exc.details)]}]
        required, optional = IMPORT_COLUMNS[self.import_kind]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import %(models)s") % {"models": self.model._meta.verbose_name_plural},
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


class LocationInline(BaseTabularInline):
    model = Location
    extra = 0
    fields = ["code", "name", "kind", "is_default", "active"]
    readonly_fields = ["is_default"]


@admin.register(Warehouse)
class WarehouseAdmin(_ErpAdmin):
    list_display = ["code", "name", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    inlines = [LocationInline]

    def save_model(self, request: HttpRequest, obj: Warehouse, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # a new warehouse gets its default stock location, as through the API
        created = warehouse_create(code=obj.code, name=obj.name, address=obj.address, actor=request.user)
        obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
        obj._state.adding, obj._state.db = False, created._state.db


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


class JournalLineFormSet(forms.BaseInlineFormSet):
    """The lines of a manual entry: at least two, and debits equal to credits (checked again by the posting
    service and, at commit, by the database)."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        rows = [f.cleaned_data for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(rows) < 2:
            raise ValidationError(gettext("A journal entry needs at least two lines."))
        debit = sum((row.get("debit") or 0 for row in rows), 0)
        credit = sum((row.get("credit") or 0 for row in rows), 0)
        if debit != credit:
            raise ValidationError(
                gettext("The entry does not balance: debits %(debit)s, credits %(credit)s.")
                % {"debit": debit, "credit": credit}
            )


class JournalLineInline(BaseTabularInline):
    """Posted lines are shown read-only; a new manual entry is written with its lines."""

    model = JournalLine
    formset = JournalLineFormSet
    extra = 0
    can_delete = False
    fields = ["account", "debit", "credit", "description"]

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        return 0 if obj is not None else 2

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "account":
            kwargs["queryset"] = Account.objects.filter(active=True).order_by("code")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm(APPROVE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(_ErpLedgerAdmin):
    """Posted entries are read-only (correct them with a reversal); approvers post manual entries with "Add"."""

    list_display = ["number", "date", "source", "memo", "reference"]
    list_filter = ["source", "date"]
    search_fields = ["number", "memo", "reference"]
    date_hierarchy = "date"
    inlines = [JournalLineInline]
    actions = ["reverse_entries"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_active and request.user.has_perm(APPROVE))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["date", "memo", "reference"]
        return ["number", "date", "source", "memo", "reference", "reversal_of", "posted_at", "created_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.get_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: JournalEntry, form: Any, change: bool) -> None:
        """Nothing yet: the entry is posted together with its lines in ``save_related``."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        obj = form.instance
        lines = [
            {
                "account": f.cleaned_data["account"].pk,
                "debit": f.cleaned_data.get("debit") or 0,
                "credit": f.cleaned_data.get("credit") or 0,
                "description": f.cleaned_data.get("description") or "",
            }
            for formset in formsets
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        entry = finance.journal_post(
            date=obj.date, lines=lines, memo=obj.memo, reference=obj.reference, actor=request.user
        )
        obj.pk, obj.number, obj.posted_at = entry.pk, entry.number, entry.posted_at
        obj._state.adding, obj._state.db = False, entry._state.db
        for formset in formsets:  # the admin's change message reads these
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    @admin.action(description=_("Reverse the selected entries"))
    def reverse_entries(self, request: HttpRequest, queryset: QuerySet[JournalEntry]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "reverse"),
            lambda e: finance.journal_reverse(entry=e, actor=request.user),
            APPROVE,
        )


class InvoiceLineInline(ReadOnlyTabularInline):
    model = InvoiceLine
    fields = ["product", "description", "quantity", "unit_price", "discount_percent", "tax_rate", "net_amount"]
    readonly_fields = fields


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
    actions = ["register_full_payment"]

    @admin.action(description=_("Register payment of the open amount (today, bank)"))
    def register_full_payment(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "register payment"),
            lambda i: finance.payment_register(invoice=i, amount=i.amount_open, actor=request.user),
            APPROVE,
        )


@admin.register(Payment)
class PaymentAdmin(_ErpLedgerAdmin):
    list_display = ["number", "invoice", "amount", "date", "method", "reference"]
    list_filter = ["method"]
    search_fields = ["number", "reference", "invoice__number"]
    list_select_related = ["invoice"]


# --- Orders ---------------------------------------------------------------------------------------------------------


class SalesOrderLineInline(ReadOnlyTabularInline):
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
        "quantity_invoiced",
        "quantity_cancelled",
    ]
    readonly_fields = fields


class _OrderInvoiceInline(ReadOnlyTabularInline):
    """The invoices (bills) of an order, one per invoicing of what was delivered (received) by then."""

    model = Invoice
    fields = ["number", "invoice_date", "due_date", "subtotal", "tax_total", "total", "amount_paid", "state"]
    readonly_fields = fields
    show_change_link = True


class SalesOrderInvoiceInline(_OrderInvoiceInline):
    fk_name = "sales_order"
    verbose_name_plural = _("invoices")


class PurchaseOrderBillInline(_OrderInvoiceInline):
    fk_name = "purchase_order"
    verbose_name = _("bill")
    verbose_name_plural = _("bills")


class _WaitingForInvoiceFilter(admin.SimpleListFilter):
    """Orders with a line delivered (received) beyond what is invoiced (billed)."""

    parameter_name = "to_invoice"
    line_model: Any = None
    done_field = invoiced_field = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in ("yes", "no"):
            return queryset
        waiting = Exists(
            self.line_model.objects.filter(order=OuterRef("pk"), **{f"{self.done_field}__gt": F(self.invoiced_field)})
        )
        return queryset.filter(waiting if self.value() == "yes" else ~waiting)


class SalesToInvoiceFilter(_WaitingForInvoiceFilter):
    title = _("to invoice")
    line_model, done_field, invoiced_field = SalesOrderLine, "quantity_delivered", "quantity_invoiced"


class PurchasesToBillFilter(_WaitingForInvoiceFilter):
    title = _("to bill")
    parameter_name = "to_bill"
    line_model, done_field, invoiced_field = PurchaseOrderLine, "quantity_received", "quantity_billed"


class _OrderAdmin(_ErpAdmin):
    """Orders are created through the API (or the services); here they are reviewed and moved along. Only the header
    of an order still in its first state can be changed, and that change goes through the order's update service;
    later the whole order is read-only (its lines, reservations and postings depend on it)."""

    editable_state: str = ""
    editable_fields: tuple[str, ...] = ()

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.state == self.editable_state:
            return [f for f in self.fields if f not in self.editable_fields]
        return list(self.fields)

    def update(self, *, order: Any, actor: Any, **changes: Any) -> Any:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in self.editable_fields}
        if not changes:
            return
        try:
            self.update(order=obj, actor=request.user, **changes)
        except ApplicationError as exc:
            messages.error(request, gettext("%(object)s: %(error)s") % {"object": obj, "error": exc.message})


@admin.register(SalesOrder)
class SalesOrderAdmin(_OrderAdmin):
    list_display = ["number", "customer", "order_date", "state", "total"]
    list_filter = ["state", SalesToInvoiceFilter, "order_date", "warehouse"]
    search_fields = ["number", "customer__name", "customer__code"]
    list_select_related = ["customer"]
    date_hierarchy = "order_date"
    fields = [
        "number",
        "state",
        "customer",
        "warehouse",
        "order_date",
        "customer_reference",
        "notes",
        "subtotal",
        "tax_total",
        "total",
        "confirmed_at",
        "cancelled_at",
    ]
    editable_state = SalesOrderState.DRAFT
    editable_fields = ("customer", "warehouse", "order_date", "customer_reference", "notes")
    inlines = [SalesOrderLineInline, SalesOrderInvoiceInline]
    actions = ["confirm", "deliver", "invoice", "close_remaining", "cancel"]

    def update(self, *, order: SalesOrder, actor: Any, **changes: Any) -> SalesOrder:
        return sales.sales_order_update(order=order, actor=actor, **changes)

    @admin.action(description=_("Confirm (reserve stock)"))
    def confirm(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "confirm"),
            lambda o: sales.sales_order_confirm(order=o, actor=request.user),
            APPROVE,
        )

    @admin.action(description=_("Deliver everything open"))
    def deliver(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "deliver"),
            lambda o: sales.sales_order_deliver(order=o, actor=request.user),
            WRITE,
        )

    @admin.action(description=_("Invoice what is delivered and not yet invoiced"))
    def invoice(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "invoice"),
            lambda o: sales.sales_order_invoice(order=o, actor=request.user),
            APPROVE,
        )

    @admin.action(description=_("Close the remainder (release reservations, cancel what is not delivered)"))
    def close_remaining(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "close the remainder"),
            lambda o: sales.sales_order_close_remaining(order=o, actor=request.user),
            APPROVE,
        )

    @admin.action(description=_("Cancel"))
    def cancel(self, request: HttpRequest, queryset: QuerySet[SalesOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "cancel"),
            lambda o: sales.sales_order_cancel(order=o, actor=request.user),
            APPROVE,
        )


class DeliveryLineInline(ReadOnlyTabularInline):
    model = DeliveryLine
    fields = ["order_line", "quantity", "unit_cost"]
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(_ErpLedgerAdmin):
    list_display = ["number", "order", "delivered_at"]
    search_fields = ["number", "order__number"]
    inlines = [DeliveryLineInline]


class PurchaseOrderLineInline(ReadOnlyTabularInline):
    model = PurchaseOrderLine
    fields = [
        "product",
        "quantity",
        "unit_price",
        "tax_rate",
        "net_amount",
        "tax_amount",
        "quantity_received",
        "quantity_billed",
        "quantity_cancelled",
    ]
    readonly_fields = fields


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(_OrderAdmin):
    list_display = ["number", "supplier", "order_date", "state", "total"]
    list_filter = ["state", PurchasesToBillFilter, "order_date", "warehouse"]
    search_fields = ["number", "supplier__name", "supplier__code"]
    list_select_related = ["supplier"]
    date_hierarchy = "order_date"
    fields = [
        "number",
        "state",
        "supplier",
        "warehouse",
        "order_date",
        "expected_date",
        "supplier_reference",
        "notes",
        "subtotal",
        "tax_total",
        "total",
        "approved_at",
        "approved_by",
    ]
    editable_state = PurchaseOrderState.DRAFT
    editable_fields = ("supplier", "warehouse", "order_date", "expected_date", "supplier_reference", "notes")
    inlines = [PurchaseOrderLineInline, PurchaseOrderBillInline]
    actions = ["approve", "receive", "bill", "close_remaining", "cancel"]

    def update(self, *, order: PurchaseOrder, actor: Any, **changes: Any) -> PurchaseOrder:
        return purchasing.purchase_order_update(order=order, actor=actor, **changes)

    @admin.action(description=_("Approve"))
    def approve(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "approve"),
            lambda o: purchasing.purchase_order_approve(order=o, actor=request.user),
            APPROVE,
        )

    @admin.action(description=_("Receive everything open"))
    def receive(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "receive"),
            lambda o: purchasing.purchase_order_receive(order=o, actor=request.user),
            WRITE,
        )

    @admin.action(description=_("Record the bill for what is received and not yet billed"))
    def bill(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "bill"),
            lambda o: purchasing.purchase_order_bill(order=o, actor=request.user),
            APPROVE,
        )

    @admin.action(description=_("Close the remainder (cancel what is not received)"))
    def close_remaining(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "close the remainder"),
            lambda o: purchasing.purchase_order_close_remaining(order=o, actor=request.user),
            APPROVE,
        )

    @admin.action(description=_("Cancel"))
    def cancel(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "cancel"),
            lambda o: purchasing.purchase_order_cancel(order=o, actor=request.user),
            APPROVE,
        )


class ReceiptLineInline(ReadOnlyTabularInline):
    model = ReceiptLine
    fields = ["order_line", "quantity", "unit_cost"]
    readonly_fields = fields


@admin.register(Receipt)
class ReceiptAdmin(_ErpLedgerAdmin):
    list_display = ["number", "order", "received_at"]
    search_fields = ["number", "order__number"]
    inlines = [ReceiptLineInline]


class BomLineInline(BaseTabularInline):
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
    fields = [
        "number",
        "state",
        "bom",
        "product",
        "quantity",
        "warehouse",
        "planned_date",
        "started_at",
        "finished_at",
        "unit_cost",
    ]
    editable_state = ProductionState.PLANNED
    editable_fields = ("quantity", "warehouse", "planned_date")
    actions = ["start", "complete", "cancel"]

    def update(self, *, order: ProductionOrder, actor: Any, **changes: Any) -> ProductionOrder:
        return production.production_order_update(order=order, actor=actor, **changes)

    @admin.action(description=_("Start (reserve components)"))
    def start(self, request: HttpRequest, queryset: QuerySet[ProductionOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "start"),
            lambda o: production.production_order_start(order=o, actor=request.user),
            WRITE,
        )

    @admin.action(description=_("Complete"))
    def complete(self, request: HttpRequest, queryset: QuerySet[ProductionOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "complete"),
            lambda o: production.production_order_complete(order=o, actor=request.user),
            WRITE,
        )

    @admin.action(description=_("Cancel"))
    def cancel(self, request: HttpRequest, queryset: QuerySet[ProductionOrder]) -> None:
        _run_on_each(
            request,
            queryset,
            pgettext_lazy("admin action", "cancel"),
            lambda o: production.production_order_cancel(order=o, actor=request.user),
            APPROVE,
        )


# --- System ---------------------------------------------------------------------------------------------------------


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
        receivables = [Decimal(row["open_receivables"] or 0) for row in kpis["snapshots"]]
        receivables_peak = max(receivables or [Decimal(0)]) or 1
        snapshots = [
            {**row, "percent": int(amount * 100 / receivables_peak)}
            for row, amount in zip(kpis["snapshots"], receivables, strict=True)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("ERP dashboard"),
            "snapshots": snapshots,
            "kpis": kpis,
            "series": series,
            "states": states,
            "periods": DashboardPeriod.choices,
            "period": period,
            "kpis_json": json.dumps(kpis, default=str),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/erp/dashboard.html", context)
