"""The validation of master-data records (customers, suppliers, products) that the API and the CSV/XLSX import
(services/imports.py) share, so that a row of a file is accepted exactly when the same record would be accepted by
the API. The API's viewsets (api/master.py) use these serializers as they are."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext
from rest_framework import serializers

from apps.core.serializers import BaseModelSerializer, DecimalField

from .models import Customer, Product, Supplier

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2, "min_value": 0}
QTY: dict[str, Any] = {"max_digits": 14, "decimal_places": 3, "min_value": 0}

PARTNER_FIELDS = [
    "id",
    "code",
    "name",
    "contact_name",
    "email",
    "phone",
    "billing_address",
    "shipping_address",
    "tax_id",
    "bank_account",
    "payment_terms_days",
    "active",
    "created_at",
    "updated_at",
]


class CustomerSerializer(BaseModelSerializer):
    tax_id = serializers.CharField(max_length=50, required=False, allow_blank=True)
    bank_account = serializers.CharField(max_length=80, required=False, allow_blank=True)
    credit_limit = DecimalField(**MONEY, required=False)

    class Meta:
        model = Customer
        fields = [*PARTNER_FIELDS, "credit_limit"]


class SupplierSerializer(BaseModelSerializer):
    tax_id = serializers.CharField(max_length=50, required=False, allow_blank=True)
    bank_account = serializers.CharField(max_length=80, required=False, allow_blank=True)

    class Meta:
        model = Supplier
        fields = PARTNER_FIELDS


class ProductSerializer(BaseModelSerializer):
    sale_price = DecimalField(**MONEY, max_value=Decimal("999999999.99"), required=False)
    standard_cost = DecimalField(**MONEY, max_value=Decimal("999999999.99"), required=False)
    reorder_point = DecimalField(**QTY, max_value=999999999, required=False)
    reorder_quantity = DecimalField(**QTY, max_value=999999999, required=False)
    average_cost = DecimalField(max_digits=16, decimal_places=4, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
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
            "tax_rate",
            "default_supplier",
            "active",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        if self.instance is not None and kind != self.instance.kind and self.instance.moves.exists():
            raise serializers.ValidationError(
                {"kind": [gettext("Cannot change the kind of a product with stock moves.")]}
            )
        return attrs
