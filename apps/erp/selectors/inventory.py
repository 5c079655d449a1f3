"""Stock reads: levels, availability, reorder suggestions, valuation."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django_stubs_ext import WithAnnotations

from ..choices import LocationKind, ProductKind
from ..models import Product, StockLevel, StockMove

ZERO = Decimal("0")
_DEC = DecimalField(max_digits=16, decimal_places=3)


def stock_level_list() -> QuerySet[StockLevel]:
    return StockLevel.objects.select_related("product", "location").order_by("product__sku", "location__code")


def stock_move_list() -> QuerySet[StockMove]:
    return StockMove.objects.select_related("product", "source", "destination").order_by("-moved_at", "-id")


class StockValues(TypedDict):
    """What ``products_with_stock`` annotates on each product (quantities over the internal locations)."""

    on_hand: Decimal
    reserved: Decimal
    available: Decimal


if TYPE_CHECKING:  # the two-argument form is for type checkers only
    ProductWithStock = WithAnnotations[Product, StockValues]


def products_with_stock() -> QuerySet[ProductWithStock]:
    """Products annotated with on_hand/reserved/available over internal locations."""
    internal = StockLevel.objects.filter(product=OuterRef("pk"), location__kind=LocationKind.INTERNAL)
    on_hand = internal.values("product").annotate(s=Sum("on_hand")).values("s")
    reserved = internal.values("product").annotate(s=Sum("reserved")).values("s")
    return Product.objects.annotate(
        on_hand=Coalesce(Subquery(on_hand, output_field=_DEC), Value(ZERO, output_field=_DEC)),
        reserved=Coalesce(Subquery(reserved, output_field=_DEC), Value(ZERO, output_field=_DEC)),
    ).annotate(available=F("on_hand") - F("reserved"))


def reorder_suggestions() -> list[dict[str, Any]]:
    """Active stockable products whose available quantity is under the reorder point, with a suggested quantity
    (the reorder quantity, or enough to get back to the reorder point when that is more)."""
    rows = []
    qs = (
        products_with_stock()
        .filter(active=True, kind=ProductKind.STOCKABLE, reorder_point__gt=0)
        .filter(available__lt=F("reorder_point"))
        .select_related("default_supplier")
        .order_by("sku")
    )
    for product in qs:
        gap = product.reorder_point - product.available
        rows.append(
            {
                "product_id": product.pk,
                "sku": product.sku,
                "name": product.name,
                "available": product.available,
                "reorder_point": product.reorder_point,
                "suggested_quantity": max(product.reorder_quantity, gap),
                "supplier_id": product.default_supplier_id,
                "supplier": product.default_supplier.name if product.default_supplier else "",
            }
        )
    return rows


def stock_outs_count() -> int:
    return products_with_stock().filter(active=True, kind=ProductKind.STOCKABLE).filter(Q(available__lte=0)).count()


def ledger_on_hand(*, product_id: int, location_id: int) -> Decimal:
    """On-hand recomputed from the moves (the invariant the cached level must equal)."""
    inbound = StockMove.objects.filter(product_id=product_id, destination_id=location_id).aggregate(s=Sum("quantity"))
    outbound = StockMove.objects.filter(product_id=product_id, source_id=location_id).aggregate(s=Sum("quantity"))
    return (inbound["s"] or ZERO) - (outbound["s"] or ZERO)
