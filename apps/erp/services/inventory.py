"""The stock ledger: every quantity change is a StockMove applied together with its StockLevel rows, under row locks
(products first, in id order, then levels), so concurrent confirmations and deliveries can never oversell."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, NotFound, ValidationFailed

from .. import conf
from ..choices import EntrySource, LocationKind, MoveKind, ProductKind
from ..models import Location, Product, StockLevel, StockMove, Warehouse
from .common import ZERO, as_decimal, audit, q2, q4
from .finance import post_simple


def lock_products(product_ids: Iterable[int]) -> dict[int, Product]:
    """Lock the product rows (in id order, so concurrent callers never deadlock) and return them fresh."""
    ids = sorted(set(product_ids))
    return {p.id: p for p in Product.objects.select_for_update().filter(id__in=ids).order_by("id")}


def virtual_location(kind: str) -> Location:
    location = Location.objects.filter(kind=kind, warehouse__isnull=True).order_by("id").first()
    if location is None:
        raise NotFound(gettext("No virtual %(kind)s location is configured.") % {"kind": kind}, code="location_missing")
    return location


def warehouse_stock_location(warehouse: Warehouse | int) -> Location:
    warehouse_id = warehouse if isinstance(warehouse, int) else warehouse.pk
    location = Location.objects.filter(warehouse_id=warehouse_id, is_default=True).first()
    if location is None:
        raise NotFound(gettext("The warehouse has no default stock location."), code="location_missing")
    return location


def _level_for_update(product_id: int, location_id: int) -> StockLevel:
    level = StockLevel.objects.select_for_update().filter(product_id=product_id, location_id=location_id).first()
    if level is not None:
        return level
    try:
        with transaction.atomic():
            StockLevel.objects.create(product_id=product_id, location_id=location_id)
    except IntegrityError:
        pass  # made by a concurrent transaction meanwhile
    return StockLevel.objects.select_for_update().get(product_id=product_id, location_id=location_id)


def _insufficient(product: Product, location: Location, requested: Decimal, available: Decimal) -> Conflict:
    return Conflict(
        gettext("Not enough %(sku)s at %(code)s: %(available)s available, %(requested)s requested.")
        % {"sku": product.sku, "code": location.code, "available": available, "requested": requested},
        code="insufficient_stock",
        details={
            "product_id": product.pk,
            "sku": product.sku,
            "location": location.code,
            "requested": str(requested),
            "available": str(available),
            "missing": str(requested - available),
        },
    )


def stock_reserve(*, product: Product, location: Location, quantity: Decimal) -> None:
    """Reserve ``quantity`` at ``location`` (caller holds the product lock). Stockable products need it available."""
    level = _level_for_update(product.pk, location.pk)
    if product.kind == ProductKind.STOCKABLE and level.available < quantity:
        raise _insufficient(product, location, quantity, level.available)
    level.reserved += quantity
    level.save(update_fields=["reserved", "updated_at"])


def stock_release(*, product: Product, location: Location, quantity: Decimal) -> None:
    level = _level_for_update(product.pk, location.pk)
    level.reserved = max(ZERO, level.reserved - quantity)
    level.save(update_fields=["reserved", "updated_at"])


def _internal_on_hand(product_id: int) -> Decimal:
    total = StockLevel.objects.filter(product_id=product_id, location__kind=LocationKind.INTERNAL).aggregate(
        s=Sum("on_hand")
    )["s"]
    return total or ZERO


def move_apply(
    *,
    product: Product,
    kind: str,
    quantity: Decimal,
    source: Location,
    destination: Location,
    unit_cost: Decimal | None = None,
    reference: str = "",
    reference_obj: Any = None,
    note: str = "",
    at: dt.datetime | None = None,
    actor: Any = None,
    from_reserved: Decimal = ZERO,
) -> StockMove:
    """Write one move and update the levels (the caller holds the product lock, inside a transaction).

    Outbound moves from an internal location leave at the moving-average cost; inbound moves from outside value the
    stock at ``unit_cost`` and update the average. ``from_reserved`` is the part of an outbound quantity that was
    reserved for this document (released here). Stockable products never go below zero, nor below what is reserved
    for other documents."""
    if quantity <= 0:
        raise ValidationFailed(
            gettext("A stock move needs a positive quantity."), details={"quantity": [gettext("Must be > 0.")]}
        )
    if not product.is_tracked:
        raise ValidationFailed(
            gettext("%(sku)s is a service and has no stock.") % {"sku": product.sku}, code="not_stockable"
        )
    if source.pk == destination.pk:
        raise ValidationFailed(
            gettext("Source and destination must differ."), details={"destination": [gettext("Same as source.")]}
        )
    inbound = source.kind != LocationKind.INTERNAL and destination.kind == LocationKind.INTERNAL
    if inbound:
        cost = q4(unit_cost if unit_cost is not None else (product.average_cost or product.standard_cost))
        on_hand = _internal_on_hand(product.pk)
        if on_hand <= 0:
            product.average_cost = cost
        else:
            product.average_cost = q4((on_hand * product.average_cost + quantity * cost) / (on_hand + quantity))
        Product.objects.filter(pk=product.pk).update(average_cost=product.average_cost)
    else:
        cost = q4(product.average_cost)
    if source.kind == LocationKind.INTERNAL:
        level = _level_for_update(product.pk, source.pk)
        released = min(from_reserved, level.reserved)
        reserved_for_others = level.reserved - released
        if product.kind == ProductKind.STOCKABLE and level.on_hand - quantity < reserved_for_others:
            raise _insufficient(product, source, quantity, level.on_hand - reserved_for_others)
        level.on_hand -= quantity
        level.reserved -= released
        level.save(update_fields=["on_hand", "reserved", "updated_at"])
    if destination.kind == LocationKind.INTERNAL:
        level = _level_for_update(product.pk, destination.pk)
        level.on_hand += quantity
        level.save(update_fields=["on_hand", "updated_at"])
    move = StockMove(
        product=product,
        kind=kind,
        quantity=quantity,
        unit_cost=cost,
        source=source,
        destination=destination,
        reference=reference[:64],
        reference_type=reference_obj._meta.label_lower if reference_obj is not None else "",
        reference_id=reference_obj.pk if reference_obj is not None else None,
        note=note[:255],
        moved_at=at or timezone.now(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    move.save()
    return move


@transaction.atomic
def stock_adjust(
    *,
    product: Product,
    location: Location,
    quantity: Any = None,
    counted_quantity: Any = None,
    unit_cost: Any = None,
    reason: str = "",
    actor: Any = None,
    at: dt.datetime | None = None,
    counter_account: str = "stock_adjustment",
) -> StockMove:
    """Change stock at an internal location by ``quantity`` (signed) or to ``counted_quantity``; posts the value
    difference against ``counter_account`` (inventory adjustments, or opening equity for opening stock)."""
    if location.kind != LocationKind.INTERNAL:
        raise ValidationFailed(
            gettext("Adjust stock at an internal location."), details={"location": [gettext("Not internal.")]}
        )
    if (quantity is None) == (counted_quantity is None):
        raise ValidationFailed(gettext("Give either quantity (a change) or counted_quantity (a count)."))
    product = lock_products([product.pk])[product.pk]
    level = _level_for_update(product.pk, location.pk)
    if counted_quantity is not None:
        counted = as_decimal(counted_quantity, field="counted_quantity", places=3)
        delta = counted - level.on_hand
    else:
        try:
            delta = Decimal(str(quantity))
        except ArithmeticError:
            raise ValidationFailed(
                gettext("quantity is not a number."), details={"quantity": [gettext("Not a number.")]}
            ) from None
        as_decimal(abs(delta), field="quantity", places=3, positive=True)
    if delta == 0:
        raise ValidationFailed(gettext("The adjustment changes nothing."), code="no_change")
    cost = as_decimal(unit_cost, field="unit_cost", places=4) if unit_cost not in (None, "") else None
    valued_at = cost if cost is not None and delta > 0 else (product.average_cost or product.standard_cost)
    if abs(delta) * valued_at > conf.max_amount():
        raise ValidationFailed(
            gettext("The adjustment is worth more than %(value)s.") % {"value": conf.max_amount()},
            code="amount_too_large",
            details={"quantity": [str(delta)], "unit_cost": [str(valued_at)]},
        )
    adjustment = virtual_location(LocationKind.ADJUSTMENT)
    if delta > 0:
        move = move_apply(
            product=product,
            kind=MoveKind.ADJUSTMENT,
            quantity=delta,
            source=adjustment,
            destination=location,
            unit_cost=cost,
            note=reason,
            at=at,
            actor=actor,
        )
        debit, credit = "inventory", counter_account
    else:
        move = move_apply(
            product=product,
            kind=MoveKind.ADJUSTMENT,
            quantity=-delta,
            source=location,
            destination=adjustment,
            note=reason,
            at=at,
            actor=actor,
        )
        debit, credit = counter_account, "inventory"
    post_simple(
        date=(at or timezone.now()).date(),
        debit=debit,
        credit=credit,
        amount=q2(move.quantity * move.unit_cost),
        memo=f"Stock adjustment {product.sku}: {delta}",
        source=EntrySource.STOCK,
        reference=f"ADJ-{move.pk}",
        actor=actor,
    )
    audit(
        actor=actor,
        target=move,
        action=AuditAction.CREATE,
        message=f"Stock adjusted by {delta} at {location.code}: {reason}",
        changes={"quantity": [None, str(delta)]},
    )
    return move


@transaction.atomic
def stock_transfer(
    *, product: Product, source: Location, destination: Location, quantity: Any, actor: Any = None
) -> StockMove:
    if source.kind != LocationKind.INTERNAL or destination.kind != LocationKind.INTERNAL:
        raise ValidationFailed(gettext("Transfers move stock between internal locations."))
    qty = as_decimal(quantity, field="quantity", places=3, positive=True)
    product = lock_products([product.pk])[product.pk]
    move = move_apply(
        product=product, kind=MoveKind.TRANSFER, quantity=qty, source=source, destination=destination, actor=actor
    )
    audit(actor=actor, target=move, action=AuditAction.CREATE, message=f"Transferred {qty} {product.sku}")
    return move


@transaction.atomic
def warehouse_create(*, code: str, name: str, address: str = "", actor: Any = None) -> Warehouse:
    """A warehouse with its default stock location ``<code>/STOCK``."""
    warehouse = Warehouse(code=code, name=name, address=address)
    warehouse.full_clean()
    warehouse.save()
    location = Location(
        warehouse=warehouse, code=f"{code}/STOCK", name=f"{name} stock", kind=LocationKind.INTERNAL, is_default=True
    )
    location.full_clean()
    location.save()
    audit(actor=actor, target=warehouse, action=AuditAction.CREATE, message="Warehouse created")
    return warehouse


@transaction.atomic
def stock_opening_bulk(
    *, items: list[tuple[Product, Decimal, Decimal]], location: Location, at: dt.datetime, actor: Any = None
) -> int:
    """Opening stock for products that have none yet, in a few bulk statements: one adjustment move per product
    (at the given unit cost, which becomes the average cost), the levels, and one journal entry against opening
    balance equity. Products that already have stock are refused (use ``stock_adjust`` for them)."""
    if location.kind != LocationKind.INTERNAL:
        raise ValidationFailed(gettext("Opening stock goes to an internal location."))
    products = lock_products(p.pk for p, _, _ in items)
    if StockLevel.objects.filter(product_id__in=products).exists():
        raise Conflict(gettext("Some products already have stock; adjust them instead."), code="already_stocked")
    adjustment = virtual_location(LocationKind.ADJUSTMENT)
    moves, levels, value = [], [], ZERO
    for product, quantity, cost in items:
        qty = as_decimal(quantity, field="quantity", places=3, positive=True)
        cost = q4(as_decimal(cost, field="unit_cost", places=4))
        if not product.is_tracked:
            raise ValidationFailed(
                gettext("%(sku)s is a service and has no stock.") % {"sku": product.sku}, code="not_stockable"
            )
        products[product.pk].average_cost = cost
        moves.append(
            StockMove(
                product_id=product.pk,
                kind=MoveKind.ADJUSTMENT,
                quantity=qty,
                unit_cost=cost,
                source=adjustment,
                destination=location,
                reference="OPENING",
                note="Opening stock",
                moved_at=at,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
        )
        levels.append(StockLevel(product_id=product.pk, location=location, on_hand=qty))
        value += q2(qty * cost)
    StockMove.objects.bulk_create(moves)
    StockLevel.objects.bulk_create(levels)
    Product.objects.bulk_update(list(products.values()), ["average_cost"])
    post_simple(
        date=at.date(),
        debit="inventory",
        credit="opening_equity",
        amount=value,
        memo=f"Opening stock of {len(items)} products",
        source=EntrySource.STOCK,
        reference="OPENING",
        actor=actor,
    )
    audit(actor=actor, target=location, message=f"Opening stock for {len(items)} products, value {value}")
    return len(moves)
