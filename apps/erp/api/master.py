"""Master data API: tax rates, categories, customers, suppliers, products, warehouses, locations."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from rest_framework import serializers

from apps.core.serializers import BaseModelSerializer, DecimalField
from apps.core.viewsets import BaseModelViewSet, CachedReadMixin

from ..filtersets import (
    CustomerFilterSet,
    LocationFilterSet,
    ProductCategoryFilterSet,
    ProductFilterSet,
    SupplierFilterSet,
    TaxRateFilterSet,
    WarehouseFilterSet,
)
from ..models import Customer, Location, Product, ProductCategory, Supplier, TaxRate, Warehouse
from ..services.inventory import warehouse_create
from ..validation import CustomerSerializer, ProductSerializer, SupplierSerializer
from .common import ProtectedDestroyMixin

READ_WRITE: dict[str, str | tuple[str, ...]] = {"read": "erp.read", "write": "erp.write"}


class TaxRateSerializer(BaseModelSerializer):
    rate = DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)

    class Meta:
        model = TaxRate
        fields = ["id", "code", "name", "rate", "active", "created_at", "updated_at"]


class ProductCategorySerializer(BaseModelSerializer):
    class Meta:
        model = ProductCategory
        fields = ["id", "name", "parent", "created_at", "updated_at"]


class WarehouseSerializer(BaseModelSerializer):
    class Meta:
        model = Warehouse
        fields = ["id", "code", "name", "address", "active", "created_at", "updated_at"]


class LocationSerializer(BaseModelSerializer):
    class Meta:
        model = Location
        fields = ["id", "warehouse", "code", "name", "kind", "is_default", "active", "created_at", "updated_at"]
        read_only_fields = ["is_default"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind", getattr(self.instance, "kind", "internal"))
        warehouse = attrs.get("warehouse", getattr(self.instance, "warehouse", None))
        if kind == "internal" and warehouse is None:
            raise serializers.ValidationError({"warehouse": [gettext("Internal locations belong to a warehouse.")]})
        return attrs


class _MasterViewSet(ProtectedDestroyMixin, BaseModelViewSet):
    required_permissions = READ_WRITE


class TaxRateViewSet(_MasterViewSet):
    queryset = TaxRate.objects.order_by("-rate", "code")
    serializer_class = TaxRateSerializer
    filterset_class = TaxRateFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "rate"]


class ProductCategoryViewSet(_MasterViewSet):
    queryset = ProductCategory.objects.order_by("name")
    serializer_class = ProductCategorySerializer
    filterset_class = ProductCategoryFilterSet
    search_fields = ["name"]
    ordering_fields = ["name"]


class CustomerViewSet(_MasterViewSet):
    queryset = Customer.objects.order_by("code")
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    search_fields = ["code", "name", "email", "contact_name"]
    ordering_fields = ["code", "name", "credit_limit", "created_at"]


class SupplierViewSet(_MasterViewSet):
    queryset = Supplier.objects.order_by("code")
    serializer_class = SupplierSerializer
    filterset_class = SupplierFilterSet
    search_fields = ["code", "name", "email", "contact_name"]
    ordering_fields = ["code", "name", "created_at"]


# CachedReadMixin answers list and retrieve with a cached HttpResponse where the DRF mixins declare a Response.
class ProductViewSet(CachedReadMixin, _MasterViewSet):  # type: ignore[misc]
    cache_models = (Product,)
    queryset = Product.objects.order_by("sku")
    serializer_class = ProductSerializer
    filterset_class = ProductFilterSet
    search_fields = ["sku", "name", "barcode"]
    ordering_fields = ["sku", "name", "sale_price", "created_at"]


class WarehouseViewSet(_MasterViewSet):
    queryset = Warehouse.objects.order_by("code")
    serializer_class = WarehouseSerializer
    filterset_class = WarehouseFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name"]

    def create_object(self, serializer: Any, **extra: Any) -> Warehouse:
        data = serializer.validated_data
        return warehouse_create(
            code=data["code"], name=data["name"], address=data.get("address", ""), actor=self.request.user
        )


class LocationViewSet(_MasterViewSet):
    queryset = Location.objects.select_related("warehouse").order_by("code")
    serializer_class = LocationSerializer
    filterset_class = LocationFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name"]
