"""Production API: bills of materials and production orders with start/complete/cancel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.serializers import BaseModelSerializer, DecimalField
from apps.core.viewsets import BaseModelViewSet

from ..filtersets import BomFilterSet, ProductionOrderFilterSet
from ..models import BillOfMaterials, BomLine, Product, ProductionOrder, Warehouse
from ..services import production as services
from .common import IDEMPOTENCY_PARAMETER, ServiceWriteMixin


class BomLineSerializer(BaseModelSerializer):
    class Meta:
        model = BomLine
        fields = ["id", "component", "quantity", "scrap_percent"]


class BomSerializer(BaseModelSerializer):
    lines = BomLineSerializer(many=True, read_only=True)

    class Meta:
        model = BillOfMaterials
        fields = ["id", "code", "product", "output_quantity", "active", "created_at", "updated_at", "lines"]


class BomLineInputSerializer(serializers.Serializer):
    component = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    quantity = DecimalField(max_digits=14, decimal_places=3, min_value=Decimal("0.001"))
    scrap_percent = DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=99, default=Decimal("0"))


class BomWriteSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    output_quantity = DecimalField(max_digits=14, decimal_places=3, min_value=Decimal("0.001"), default=Decimal("1"))
    lines = BomLineInputSerializer(many=True, allow_empty=False)

    def validate_code(self, value: str) -> str:
        if BillOfMaterials.objects.filter(code=value).exists():
            raise serializers.ValidationError(gettext("A BOM with this code exists."))
        return value


class ProductionOrderSerializer(BaseModelSerializer):
    class Meta:
        model = ProductionOrder
        fields = [
            "id",
            "number",
            "bom",
            "product",
            "quantity",
            "warehouse",
            "state",
            "planned_date",
            "started_at",
            "finished_at",
            "unit_cost",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [f for f in fields if f not in ("bom", "quantity", "warehouse", "planned_date")]


class ProductionOrderWriteSerializer(serializers.Serializer):
    bom = serializers.PrimaryKeyRelatedField(queryset=BillOfMaterials.objects.all())
    quantity = DecimalField(max_digits=14, decimal_places=3, min_value=Decimal("0.001"))
    warehouse = serializers.PrimaryKeyRelatedField(queryset=Warehouse.objects.all(), required=False)
    planned_date = serializers.DateField(required=False, allow_null=True)


class BomViewSet(ServiceWriteMixin, BaseModelViewSet):
    queryset = BillOfMaterials.objects.prefetch_related("lines").order_by("code")
    serializer_class = BomSerializer
    write_serializer_class = BomWriteSerializer
    idempotent_create = False
    filterset_class = BomFilterSet
    http_method_names = ["get", "post", "head", "options"]
    required_permissions = {"read": "erp.read", "write": "erp.write"}
    search_fields = ["code", "product__sku"]
    ordering_fields = ["code"]

    def create_object(self, serializer: Any, **extra: Any) -> BillOfMaterials:
        return services.bom_create(**serializer.validated_data, actor=self.request.user)

    @extend_schema(request=BomWriteSerializer, responses={201: BomSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)


class ProductionOrderViewSet(ServiceWriteMixin, BaseModelViewSet):
    queryset = ProductionOrder.objects.order_by("-created_at", "-id")
    serializer_class = ProductionOrderSerializer
    write_serializer_class = ProductionOrderWriteSerializer
    filterset_class = ProductionOrderFilterSet
    http_method_names = ["get", "post", "head", "options"]
    required_permissions = {
        "read": "erp.read",
        "write": "erp.write",
        "start": "erp.write",
        "complete": "erp.write",
        "cancel": "erp.approve",
    }
    search_fields = ["number", "product__sku"]
    ordering_fields = ["created_at", "planned_date"]

    def create_object(self, serializer: Any, **extra: Any) -> ProductionOrder:
        return services.production_order_create(**serializer.validated_data, actor=self.request.user)

    @extend_schema(
        request=ProductionOrderWriteSerializer,
        responses={201: ProductionOrderSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    @extend_schema(request=None, responses=ProductionOrderSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        """Reserve the components; 409 ``insufficient_components`` lists what is missing."""
        order = services.production_order_start(order=self.get_object(), actor=request.user)
        return Response(self.get_serializer(order).data)

    @extend_schema(request=None, responses=ProductionOrderSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        """Consume the components and produce the finished goods at rolled-up cost."""
        order = services.production_order_complete(order=self.get_object(), actor=request.user)
        return Response(self.get_serializer(order).data, status=status.HTTP_200_OK)

    @extend_schema(request=None, responses=ProductionOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = services.production_order_cancel(order=self.get_object(), actor=request.user)
        return Response(self.get_serializer(order).data)
