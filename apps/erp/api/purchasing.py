"""Purchasing API: purchase orders with nested lines, approve/receive/bill/cancel, goods receipts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.serializers import BaseModelSerializer, DecimalField
from apps.core.viewsets import BaseModelViewSet, BaseReadOnlyViewSet

from ..filtersets import PurchaseOrderFilterSet, ReceiptFilterSet
from ..models import Product, PurchaseOrder, PurchaseOrderLine, Receipt, ReceiptLine, Supplier, TaxRate, Warehouse
from ..services import purchasing as services
from .common import IDEMPOTENCY_PARAMETER, ServiceUpdateMixin
from .finance import InvoiceSerializer
from .sales import DeliverSerializer, lines_quantities


class PurchaseOrderLineSerializer(BaseModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    quantity_to_bill = DecimalField(
        max_digits=14, decimal_places=3, read_only=True, help_text=_("Received and not yet billed.")
    )

    class Meta:
        model = PurchaseOrderLine
        fields = [
            "id",
            "product",
            "sku",
            "description",
            "quantity",
            "unit_price",
            "tax_rate",
            "net_amount",
            "tax_amount",
            "quantity_received",
            "quantity_billed",
            "quantity_cancelled",
            "quantity_to_bill",
        ]


class PurchaseOrderSerializer(BaseModelSerializer):
    lines = PurchaseOrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = PurchaseOrder
        fields = [
            "id",
            "number",
            "supplier",
            "warehouse",
            "state",
            "order_date",
            "expected_date",
            "supplier_reference",
            "notes",
            "subtotal",
            "tax_total",
            "total",
            "approved_at",
            "approved_by",
            "created_at",
            "updated_at",
            "lines",
        ]


class PurchaseLineInputSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    quantity = DecimalField(max_digits=14, decimal_places=3, min_value=Decimal("0.001"))
    unit_price = DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, help_text=_("Default: the standard cost.")
    )
    tax_rate = serializers.PrimaryKeyRelatedField(queryset=TaxRate.objects.all(), required=False)


class PurchaseOrderWriteSerializer(serializers.Serializer):
    supplier = serializers.PrimaryKeyRelatedField(queryset=Supplier.objects.all())
    warehouse = serializers.PrimaryKeyRelatedField(queryset=Warehouse.objects.all(), required=False)
    order_date = serializers.DateField(required=False)
    expected_date = serializers.DateField(required=False, allow_null=True)
    supplier_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    lines = PurchaseLineInputSerializer(many=True, allow_empty=False)


class ReceiptLineSerializer(BaseModelSerializer):
    class Meta:
        model = ReceiptLine
        fields = ["id", "order_line", "quantity", "unit_cost"]


class ReceiptSerializer(BaseModelSerializer):
    lines = ReceiptLineSerializer(many=True, read_only=True)

    class Meta:
        model = Receipt
        fields = ["id", "number", "order", "received_at", "created_at", "lines"]


class PurchaseOrderViewSet(ServiceUpdateMixin, BaseModelViewSet):
    queryset = PurchaseOrder.objects.all()
    serializer_class = PurchaseOrderSerializer
    write_serializer_class = PurchaseOrderWriteSerializer
    filterset_class = PurchaseOrderFilterSet
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    search_fields = ["number", "supplier__name", "supplier__code"]
    ordering_fields = ["order_date", "number", "total", "created_at"]
    required_permissions = {
        "read": "erp.read",
        "write": "erp.write",
        "approve": "erp.approve",
        "receive": "erp.write",
        "bill": "erp.approve",
        "close_remaining": "erp.approve",
        "cancel": "erp.approve",
    }

    def get_queryset(self) -> Any:
        return (
            PurchaseOrder.objects.select_related("supplier")
            .prefetch_related(Prefetch("lines", queryset=PurchaseOrderLine.objects.select_related("product")))
            .order_by("-order_date", "-id")
        )

    def create_object(self, serializer: Any, **extra: Any) -> PurchaseOrder:
        return services.purchase_order_create(**serializer.validated_data, actor=self.request.user)

    def update_object(self, serializer: Any) -> PurchaseOrder:
        return services.purchase_order_update(
            order=serializer.instance, **serializer.validated_data, actor=self.request.user
        )

    @extend_schema(
        request=PurchaseOrderWriteSerializer,
        responses={201: PurchaseOrderSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    @extend_schema(request=PurchaseOrderWriteSerializer, responses=PurchaseOrderSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    @extend_schema(request=PurchaseOrderWriteSerializer, responses=PurchaseOrderSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(request=None, responses=PurchaseOrderSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self.respond_with(services.purchase_order_approve(order=self.get_object(), actor=request.user))

    @extend_schema(request=DeliverSerializer, responses={201: ReceiptSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def receive(self, request: Request, pk: str | None = None) -> Response:
        """Receive some lines (partial) or everything still open; stock moves in and the average cost updates."""

        def handler() -> Response:
            serializer = DeliverSerializer(data=request.data or {})
            serializer.is_valid(raise_exception=True)
            receipt = services.purchase_order_receive(
                order=self.get_object(), quantities=lines_quantities(serializer.validated_data), actor=request.user
            )
            return Response(ReceiptSerializer(receipt).data, status=status.HTTP_201_CREATED)

        return self.run_idempotently(request, handler)

    @extend_schema(request=None, responses={201: InvoiceSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def bill(self, request: Request, pk: str | None = None) -> Response:
        """Record the supplier bill for what has been received and not yet billed, and post it. Allowed once
        something is received; 409 ``nothing_to_invoice`` when nothing new was received."""

        def handler() -> Response:
            bill = services.purchase_order_bill(order=self.get_object(), actor=request.user)
            return Response(InvoiceSerializer(bill).data, status=status.HTTP_201_CREATED)

        return self.run_idempotently(request, handler)

    @extend_schema(request=None, responses=PurchaseOrderSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"], url_path="close-remaining")
    def close_remaining(self, request: Request, pk: str | None = None) -> Response:
        """Close a partly received order short: cancel the quantities not received, so the order is received at
        what arrived and can be billed and paid."""

        def handler() -> Response:
            order = services.purchase_order_close_remaining(order=self.get_object(), actor=request.user)
            return self.respond_with(order)

        return self.run_idempotently(request, handler)

    @extend_schema(request=None, responses=PurchaseOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self.respond_with(services.purchase_order_cancel(order=self.get_object(), actor=request.user))


class ReceiptViewSet(BaseReadOnlyViewSet):
    queryset = Receipt.objects.prefetch_related("lines").order_by("-received_at", "-id")
    serializer_class = ReceiptSerializer
    filterset_class = ReceiptFilterSet
    required_permissions = {"read": "erp.read"}
    search_fields = ["number", "order__number"]
    ordering_fields = ["received_at"]
