"""Stock API: levels and moves are read-only; adjustments and transfers are actions that post moves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.serializers import BaseModelSerializer, DecimalField, IntegerField
from apps.core.viewsets import BaseReadOnlyViewSet

from ..choices import LocationKind
from ..filtersets import StockLevelFilterSet, StockMoveFilterSet
from ..models import Location, Product, StockLevel, StockMove
from ..selectors.inventory import reorder_suggestions, stock_level_list, stock_move_list
from ..services.inventory import stock_adjust, stock_transfer
from .common import plain


class StockLevelSerializer(BaseModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    location_code = serializers.CharField(source="location.code", read_only=True)
    warehouse = IntegerField(source="location.warehouse_id", read_only=True, allow_null=True)
    available = DecimalField(max_digits=14, decimal_places=3, read_only=True)

    class Meta:
        model = StockLevel
        fields = [
            "id",
            "product",
            "sku",
            "location",
            "location_code",
            "warehouse",
            "on_hand",
            "reserved",
            "available",
            "updated_at",
        ]


class StockMoveSerializer(BaseModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = StockMove
        fields = [
            "id",
            "product",
            "sku",
            "kind",
            "quantity",
            "unit_cost",
            "source",
            "destination",
            "reference",
            "reference_type",
            "reference_id",
            "note",
            "moved_at",
            "created_by",
        ]


class StockAdjustSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.filter(kind=LocationKind.INTERNAL))
    quantity = DecimalField(max_digits=14, decimal_places=3, required=False, help_text=_("Signed change (e.g. -2.5)."))
    counted_quantity = DecimalField(
        max_digits=14, decimal_places=3, min_value=0, required=False, help_text=_("The counted quantity.")
    )
    unit_cost = DecimalField(max_digits=16, decimal_places=4, min_value=0, required=False)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("quantity" in attrs) == ("counted_quantity" in attrs):
            raise serializers.ValidationError(gettext("Give either quantity (a change) or counted_quantity (a count)."))
        if attrs["product"].kind == "service":
            raise serializers.ValidationError({"product": [gettext("Services have no stock.")]})
        return attrs


class StockTransferSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    # A declared field named like Field.source: DRF's serializer metaclass moves declared fields off the class.
    source = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]
        queryset=Location.objects.filter(kind=LocationKind.INTERNAL)
    )
    destination = serializers.PrimaryKeyRelatedField(queryset=Location.objects.filter(kind=LocationKind.INTERNAL))
    quantity = DecimalField(max_digits=14, decimal_places=3, min_value=Decimal("0.001"))


class ReorderSuggestionSerializer(serializers.Serializer):
    product_id = IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    available = DecimalField(max_digits=14, decimal_places=3)
    reorder_point = DecimalField(max_digits=14, decimal_places=3)
    suggested_quantity = DecimalField(max_digits=14, decimal_places=3)
    supplier_id = IntegerField(allow_null=True)
    supplier = serializers.CharField()


class StockLevelViewSet(BaseReadOnlyViewSet):
    queryset = StockLevel.objects.all()
    serializer_class = StockLevelSerializer
    filterset_class = StockLevelFilterSet
    required_permissions = {"read": "erp.read"}
    search_fields = ["product__sku", "product__name", "location__code"]
    ordering_fields = ["on_hand", "reserved", "updated_at"]

    def get_queryset(self) -> Any:
        return stock_level_list()

    @extend_schema(responses=ReorderSuggestionSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="reorder-suggestions", pagination_class=None)
    def reorder_suggestions(self, request: Request) -> Response:
        """Products whose available quantity is under their reorder point."""
        return Response(plain(reorder_suggestions()))


class StockMoveViewSet(BaseReadOnlyViewSet):
    queryset = StockMove.objects.all()
    serializer_class = StockMoveSerializer
    filterset_class = StockMoveFilterSet
    required_permissions = {"read": "erp.read", "adjust": "erp.write", "transfer": "erp.write"}
    search_fields = ["product__sku", "reference", "note"]
    ordering_fields = ["moved_at", "quantity"]

    def get_queryset(self) -> Any:
        return stock_move_list()

    @extend_schema(request=StockAdjustSerializer, responses={201: StockMoveSerializer})
    @action(detail=False, methods=["post"])
    def adjust(self, request: Request) -> Response:
        """Post an inventory adjustment (a signed change or a count); the value difference is journalled."""
        serializer = StockAdjustSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        move = stock_adjust(**serializer.validated_data, actor=request.user)
        return Response(StockMoveSerializer(move).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=StockTransferSerializer, responses={201: StockMoveSerializer})
    @action(detail=False, methods=["post"])
    def transfer(self, request: Request) -> Response:
        """Move stock between two internal locations."""
        serializer = StockTransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        move = stock_transfer(**serializer.validated_data, actor=request.user)
        return Response(StockMoveSerializer(move).data, status=status.HTTP_201_CREATED)
