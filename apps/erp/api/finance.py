"""Finance API: chart of accounts, journal entries (manual posting and reversal), invoices/bills, payments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.serializers import BaseModelSerializer, DecimalField
from apps.core.viewsets import BaseModelViewSet, BaseReadOnlyViewSet

from ..choices import PaymentMethod
from ..filtersets import AccountFilterSet, InvoiceFilterSet, JournalEntryFilterSet, PaymentFilterSet
from ..models import Account, Invoice, InvoiceLine, JournalEntry, JournalLine, Payment
from ..services import finance as services
from .common import IDEMPOTENCY_PARAMETER, ProtectedDestroyMixin, ServiceWriteMixin


class AccountSerializer(BaseModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "code", "name", "type", "parent", "active", "created_at", "updated_at"]


class JournalLineSerializer(BaseModelSerializer):
    account_code = serializers.CharField(source="account.code", read_only=True)

    class Meta:
        model = JournalLine
        fields = ["id", "account", "account_code", "debit", "credit", "description"]


class JournalEntrySerializer(BaseModelSerializer):
    lines = JournalLineSerializer(many=True, read_only=True)

    class Meta:
        model = JournalEntry
        fields = ["id", "number", "date", "memo", "source", "reference", "reversal_of", "posted_at", "lines"]


class JournalLineInputSerializer(serializers.Serializer):
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all())
    debit = DecimalField(max_digits=14, decimal_places=2, min_value=0, default=Decimal("0"))
    credit = DecimalField(max_digits=14, decimal_places=2, min_value=0, default=Decimal("0"))
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class JournalEntryWriteSerializer(serializers.Serializer):
    date = serializers.DateField()
    memo = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    reference = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    lines = JournalLineInputSerializer(many=True, allow_empty=False)


class InvoiceLineSerializer(BaseModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "product",
            "description",
            "quantity",
            "unit_price",
            "discount_percent",
            "tax_rate",
            "net_amount",
            "tax_amount",
        ]


class InvoiceSerializer(BaseModelSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)
    amount_open = DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "kind",
            "customer",
            "supplier",
            "sales_order",
            "purchase_order",
            "state",
            "invoice_date",
            "due_date",
            "subtotal",
            "tax_total",
            "total",
            "amount_paid",
            "amount_open",
            "is_overdue",
            "journal_entry",
            "created_at",
            "lines",
        ]


class PaymentSerializer(BaseModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "number", "invoice", "amount", "date", "method", "reference", "journal_entry", "created_at"]


class PaymentWriteSerializer(serializers.Serializer):
    invoice = serializers.PrimaryKeyRelatedField(queryset=Invoice.objects.all())
    amount = DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    date = serializers.DateField(required=False)
    method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.BANK)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class AccountViewSet(ProtectedDestroyMixin, BaseModelViewSet):
    queryset = Account.objects.order_by("code")
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    required_permissions = {"read": "erp.read", "write": "erp.approve"}
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "type"]


class JournalEntryViewSet(ServiceWriteMixin, mixins.CreateModelMixin, BaseReadOnlyViewSet):
    """Posted entries are never edited or deleted: post a manual entry, or reverse one."""

    queryset = JournalEntry.objects.all()
    serializer_class = JournalEntrySerializer
    write_serializer_class = JournalEntryWriteSerializer
    idempotent_create = True
    filterset_class = JournalEntryFilterSet
    required_permissions = {"read": "erp.read", "create": "erp.approve", "reverse": "erp.approve"}
    search_fields = ["number", "memo", "reference"]
    ordering_fields = ["date", "number"]

    def get_queryset(self) -> Any:
        return JournalEntry.objects.prefetch_related(
            Prefetch("lines", queryset=JournalLine.objects.select_related("account"))
        ).order_by("-date", "-id")

    def create_object(self, serializer: Any, **extra: Any) -> JournalEntry:
        data = serializer.validated_data
        lines = [{**line, "account": line["account"].pk} for line in data["lines"]]
        return services.journal_post(
            date=data["date"], lines=lines, memo=data["memo"], reference=data["reference"], actor=self.request.user
        )

    @extend_schema(
        request=JournalEntryWriteSerializer, responses={201: JournalEntrySerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Post a manual entry; it must balance (400 ``unbalanced_entry`` otherwise)."""
        return super().create(request, *args, **kwargs)

    @extend_schema(request=None, responses={201: JournalEntrySerializer})
    @action(detail=True, methods=["post"])
    def reverse(self, request: Request, pk: str | None = None) -> Response:
        """Post the mirror entry of this one."""
        entry = services.journal_reverse(entry=self.get_object(), actor=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=entry.pk)).data, status=status.HTTP_201_CREATED)


class InvoiceViewSet(BaseReadOnlyViewSet):
    queryset = Invoice.objects.all()
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilterSet
    required_permissions = {"read": "erp.read"}
    search_fields = ["number", "customer__name", "supplier__name"]
    ordering_fields = ["invoice_date", "due_date", "total"]

    def get_queryset(self) -> Any:
        return Invoice.objects.prefetch_related("lines").order_by("-invoice_date", "-id")


class PaymentViewSet(ServiceWriteMixin, mixins.CreateModelMixin, BaseReadOnlyViewSet):
    queryset = Payment.objects.order_by("-date", "-id")
    serializer_class = PaymentSerializer
    write_serializer_class = PaymentWriteSerializer
    filterset_class = PaymentFilterSet
    required_permissions = {"read": "erp.read", "create": "erp.approve"}
    search_fields = ["number", "reference", "invoice__number"]
    ordering_fields = ["date", "amount"]

    def create_object(self, serializer: Any, **extra: Any) -> Payment:
        return services.payment_register(**serializer.validated_data, actor=self.request.user)

    @extend_schema(
        request=PaymentWriteSerializer, responses={201: PaymentSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Pay (part of) an invoice or bill; more than the open amount is refused (400 ``overpayment``)."""
        return super().create(request, *args, **kwargs)
