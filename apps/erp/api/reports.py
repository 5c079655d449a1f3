"""Report endpoints; every one answers JSON or, with ``?format=csv``, CSV."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.csv import CSVRenderer
from apps.core.permissions import RequirePermission
from apps.core.serializers import DecimalField, IntegerField
from apps.core.viewsets import BaseAPIView

from ..choices import DashboardPeriod, InvoiceKind
from ..selectors import reports
from ..selectors.dashboard import dashboard_kpis_cached
from .common import ReportSerializer, plain


class RangeQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": [gettext("Must not be before date_from.")]})
        return attrs


class AsOfQuerySerializer(serializers.Serializer):
    as_of = serializers.DateField(required=False)


class SalesQuerySerializer(RangeQuerySerializer):
    group = serializers.ChoiceField(choices=["customer", "product", "month"], default="customer")


class DashboardQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=DashboardPeriod.choices, default=DashboardPeriod.MONTH)
    date = serializers.DateField(required=False, help_text=_("A day inside the period (default: today)."))


DashboardSerializer = inline_serializer(
    "ErpDashboard",
    {
        "period": serializers.CharField(),
        "date_from": serializers.DateField(),
        "date_to": serializers.DateField(),
        "revenue": DecimalField(max_digits=16, decimal_places=2),
        "expenses": DecimalField(max_digits=16, decimal_places=2),
        "profit": DecimalField(max_digits=16, decimal_places=2),
        "orders_by_state": serializers.DictField(child=IntegerField()),
        "orders_total": IntegerField(),
        "top_customers": serializers.ListField(child=serializers.DictField()),
        "top_products": serializers.ListField(child=serializers.DictField()),
        "sales_series": serializers.ListField(child=serializers.DictField()),
        "overdue_receivables": DecimalField(max_digits=16, decimal_places=2),
        "stock_outs": IntegerField(),
        "stock_alerts": serializers.ListField(child=serializers.DictField()),
        "stock_alerts_count": IntegerField(),
        "snapshots": serializers.ListField(
            child=serializers.DictField(),
            help_text=_("The daily KPI snapshots of the period (open/overdue receivables, stock-outs ...)."),
        ),
    },
)


class _ReportView(BaseAPIView):
    renderer_classes = [JSONRenderer, CSVRenderer]
    csv_single_object = "pairs"  # a report that is not a table exports as key,value lines
    permission_classes = [RequirePermission("erp.approve")]
    query_serializer: type[serializers.Serializer] = RangeQuerySerializer

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def get(self, request: Request) -> Response:
        query = self.query_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = plain(self.build(query.validated_data))
        response = Response(data)
        if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="{self.filename}.csv"'
        return response

    @property
    def filename(self) -> str:
        return type(self).__name__.removesuffix("View").lower()


def _today() -> dt.date:
    return timezone.localdate()


def _report_schema(query: type[serializers.Serializer], response: Any = ReportSerializer) -> Any:
    return extend_schema(parameters=[query], responses=response)


class TrialBalanceView(_ReportView):
    @_report_schema(RangeQuerySerializer)
    def get(self, request: Request) -> Response:
        """Debits and credits per account for the range (``?format=csv`` for CSV)."""
        return super().get(request)

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        return reports.trial_balance(date_from=params.get("date_from"), date_to=params.get("date_to"))


class ProfitAndLossView(_ReportView):
    @_report_schema(RangeQuerySerializer)
    def get(self, request: Request) -> Response:
        """Income and expenses for the range."""
        return super().get(request)

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        return reports.profit_and_loss(date_from=params.get("date_from"), date_to=params.get("date_to"))


class BalanceSheetView(_ReportView):
    @_report_schema(RangeQuerySerializer)
    def get(self, request: Request) -> Response:
        """Assets, liabilities and equity at ``date_to`` (default today)."""
        return super().get(request)

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        return reports.balance_sheet(date_to=params.get("date_to") or _today())


class ReceivablesAgingView(_ReportView):
    query_serializer = AsOfQuerySerializer

    @_report_schema(AsOfQuerySerializer)
    def get(self, request: Request) -> Response:
        """Open customer invoices by days past due (0-30, 31-60, 61-90, 90+)."""
        return super().get(request)

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        return reports.aging(kind=InvoiceKind.CUSTOMER, as_of=params.get("as_of") or _today())


class PayablesAgingView(_ReportView):
    query_serializer = AsOfQuerySerializer

    @_report_schema(AsOfQuerySerializer)
    def get(self, request: Request) -> Response:
        """Open supplier bills by days past due (0-30, 31-60, 61-90, 90+)."""
        return super().get(request)

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        return reports.aging(kind=InvoiceKind.SUPPLIER, as_of=params.get("as_of") or _today())


class SalesReportView(_ReportView):
    query_serializer = SalesQuerySerializer
    permission_classes = [RequirePermission("erp.read")]

    @_report_schema(SalesQuerySerializer)
    def get(self, request: Request) -> Response:
        """Net sales by customer, product or month."""
        return super().get(request)

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        return reports.sales_by(group=params["group"], date_from=params.get("date_from"), date_to=params.get("date_to"))


class InventoryValuationView(_ReportView):
    query_serializer = AsOfQuerySerializer
    permission_classes = [RequirePermission("erp.read")]

    @_report_schema(AsOfQuerySerializer)
    def get(self, request: Request) -> Response:
        """On-hand quantity and value at moving-average cost per product (current)."""
        return super().get(request)

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        return reports.inventory_valuation()


class DashboardView(_ReportView):
    query_serializer = DashboardQuerySerializer

    @_report_schema(DashboardQuerySerializer, DashboardSerializer)
    def get(self, request: Request) -> Response:
        """Revenue, expenses, profit, orders by state, top customers/products and stock alerts for a period."""
        return super().get(request)

    def build(self, params: dict[str, Any]) -> dict[str, Any]:
        return dashboard_kpis_cached(period=params["period"], ref=params.get("date"))
