"""Sales API: orders with nested lines, transition endpoints, delivery notes."""

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

from apps.core.serializers import BaseModelSerializer, DecimalField, IntegerField
from apps.core.viewsets import BaseModelViewSet, BaseReadOnlyViewSet, CachedReadMixin

from ..filtersets import DeliveryFilterSet, SalesOrderFilterSet
from ..models import Customer, Delivery, DeliveryLine, Product, SalesOrder, SalesOrderLine, TaxRate, Warehouse
from ..services import sales as services
from .common import IDEMPOTENCY_PARAMETER, ServiceUpdateMixin
from .finance import InvoiceSerializer


class SalesOrderLineSerializer(BaseModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    quantity_to_invoice = DecimalField(
        max_digits=14, decimal_places=3, read_only=True, help_text=_("Delivered and not yet invoiced.")
    )

    class Meta:
        model = SalesOrderLine
        fields = [
            "id",
            "product",
            "sku",
            "description",
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
            "quantity_to_invoice",
        ]


class SalesOrderSerializer(BaseModelSerializer):
    lines = SalesOrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = SalesOrder
        fields = [
            "id",
            "number",
            "customer",
            "warehouse",
            "state",
            "order_date",
            "customer_reference",
            "notes",
            "subtotal",
            "tax_total",
            "total",
            "confirmed_at",
            "cancelled_at",
            "created_at",
            "updated_at",
            "lines",
        ]


class OrderLineInputSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    quantity = DecimalField(max_digits=14, decimal_places=3, min_value=Decimal("0.001"))
    unit_price = DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, help_text=_("Default: the product's price.")
    )
    discount_percent = DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100, default=Decimal("0"))
    tax_rate = serializers.PrimaryKeyRelatedField(
        queryset=TaxRate.objects.all(), required=False, help_text=_("Default: the product's tax rate.")
    )


class SalesOrderWriteSerializer(serializers.Serializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    warehouse = serializers.PrimaryKeyRelatedField(queryset=Warehouse.objects.all(), required=False)
    order_date = serializers.DateField(required=False)
    customer_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    lines = OrderLineInputSerializer(many=True, allow_empty=False)


class DeliverLineSerializer(serializers.Serializer):
    line = IntegerField()
    quantity = DecimalField(max_digits=14, decimal_places=3, min_value=Decimal("0.001"))


class DeliverSerializer(serializers.Serializer):
    lines = DeliverLineSerializer(many=True, required=False, help_text=_("Omit to deliver everything still open."))


class DeliveryLineSerializer(BaseModelSerializer):
    class Meta:
        model = DeliveryLine
        fields = ["id", "order_line", "quantity", "unit_cost"]


class DeliverySerializer(BaseModelSerializer):
    lines = DeliveryLineSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "number", "order", "delivered_at", "created_at", "lines"]


def lines_quantities(data: dict[str, Any]) -> dict[int, Any] | None:
    lines = data.get("lines")
    if not lines:
        return None
    result: dict[int, Any] = {}
    for row in lines:
        result[row["line"]] = result.get(row["line"], 0) + row["quantity"]
    return result


# CachedReadMixin answers list and retrieve with a cached HttpResponse where the DRF mixins declare a Response.
class SalesOrderViewSet(CachedReadMixin, ServiceUpdateMixin, BaseModelViewSet):  # type: ignore[misc]
    cache_models = (SalesOrder, SalesOrderLine, Product)
    queryset = SalesOrder.objects.all()
    serializer_class = SalesOrderSerializer
    write_serializer_class = SalesOrderWriteSerializer
    filterset_class = SalesOrderFilterSet
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    search_fields = ["number", "customer__name", "customer__code"]
    ordering_fields = ["order_date", "number", "total", "created_at"]
    required_permissions = {
        "read": "erp.read",
        "write": "erp.write",
        "confirm": "erp.approve",
        "deliver": "erp.write",
        "invoice": "erp.approve",
        "close_remaining": "erp.approve",
        "cancel": "erp.approve",
    }

    def get_queryset(self) -> Any:
        return (
            SalesOrder.objects.select_related("customer")
            .prefetch_related(Prefetch("lines", queryset=SalesOrderLine.objects.select_related("product")))
            .order_by("-order_date", "-id")
        )

    def create_object(self, serializer: Any, **extra: Any) -> SalesOrder:
        data = dict(serializer.validated_data)
        return services.sales_order_create(**data, actor=self.request.user)

    def update_object(self, serializer: Any) -> SalesOrder:
        data = dict(serializer.validated_data)
        return services.sales_order_update(order=serializer.instance, **data, actor=self.request.user)

    @extend_schema(
        request=SalesOrderWriteSerializer,
        responses={201: SalesOrderSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    @extend_schema(request=SalesOrderWriteSerializer, responses=SalesOrderSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    @extend_schema(request=SalesOrderWriteSerializer, responses=SalesOrderSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(request=None, responses=SalesOrderSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        """Reserve the stock (never beyond what is available) and check the customer's credit limit."""
        return self.respond_with(services.sales_order_confirm(order=self.get_object(), actor=request.user))

    @extend_schema(request=DeliverSerializer, responses={201: DeliverySerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def deliver(self, request: Request, pk: str | None = None) -> Response:
        """Deliver some lines (partial) or everything still open; creates a delivery note and stock moves."""

        def handler() -> Response:
            serializer = DeliverSerializer(data=request.data or {})
            serializer.is_valid(raise_exception=True)
            delivery = services.sales_order_deliver(
                order=self.get_object(), quantities=lines_quantities(serializer.validated_data), actor=request.user
            )
            return Response(DeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)

        return self.run_idempotently(request, handler)

    @extend_schema(request=None, responses={201: InvoiceSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def invoice(self, request: Request, pk: str | None = None) -> Response:
        """Invoice what has been delivered and not yet invoiced, and post it. Allowed once something is delivered,
        so an order can be invoiced in parts; 409 ``nothing_to_invoice`` when nothing new was delivered."""

        def handler() -> Response:
            invoice = services.sales_order_invoice(order=self.get_object(), actor=request.user)
            return Response(InvoiceSerializer(invoice).data, status=status.HTTP_201_CREATED)

        return self.run_idempotently(request, handler)

    @extend_schema(request=None, responses=SalesOrderSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"], url_path="close-remaining")
    def close_remaining(self, request: Request, pk: str | None = None) -> Response:
        """Close a partly delivered order short: release the remaining reservations and cancel the undelivered
        quantities, so the order is delivered at what shipped and can be invoiced and paid."""

        def handler() -> Response:
            return self.respond_with(services.sales_order_close_remaining(order=self.get_object(), actor=request.user))

        return self.run_idempotently(request, handler)

    @extend_schema(request=None, responses=SalesOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel before any delivery; releases the reservations (after a partial delivery: close-remaining)."""
        return self.respond_with(services.sales_order_cancel(order=self.get_object(), actor=request.user))


class DeliveryViewSet(BaseReadOnlyViewSet):
    queryset = Delivery.objects.prefetch_related("lines").order_by("-delivered_at", "-id")
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilterSet
    required_permissions = {"read": "erp.read"}
    search_fields = ["number", "order__number"]
    ordering_fields = ["delivered_at"]
