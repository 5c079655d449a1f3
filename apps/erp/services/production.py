"""Production: bills of materials and production orders (planned -> in progress -> done). Completing consumes the
components and produces the finished goods in one transaction, at the rolled-up cost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, ValidationFailed

from ..choices import EntrySource, LocationKind, MoveKind, ProductionState, ProductKind
from ..models import BillOfMaterials, BomLine, Product, ProductionOrder, StockLevel, Warehouse
from .common import HUNDRED, ZERO, as_decimal, audit, next_number, q2, q3, q4, require_state
from .finance import account_id, journal_post
from .inventory import (
    lock_products,
    move_apply,
    stock_release,
    stock_reserve,
    virtual_location,
    warehouse_stock_location,
)

PS = ProductionState


def _actor(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def bom_create(
    *, code: str, product: Product, lines: list[dict[str, Any]], output_quantity: Any = 1, actor: Any = None
) -> BillOfMaterials:
    """A BOM: ``lines`` of {component, quantity, scrap_percent}."""
    if product.kind == ProductKind.SERVICE:
        raise ValidationFailed(
            gettext("A service cannot be manufactured."), details={"product": [gettext("Is a service.")]}
        )
    if not lines:
        raise ValidationFailed(
            gettext("A BOM needs component lines."), details={"lines": [gettext("At least one line.")]}
        )
    output = as_decimal(output_quantity, field="output_quantity", places=3, positive=True)
    ids = [getattr(line.get("component"), "pk", line.get("component")) for line in lines]
    components = {p.pk: p for p in Product.objects.filter(pk__in=[i for i in ids if isinstance(i, int)])}
    bom = BillOfMaterials(code=code, product=product, output_quantity=output)
    bom.full_clean()
    bom.save()
    problems, rows = {}, []
    for index, (raw, component_id) in enumerate(zip(lines, ids, strict=True)):
        key = f"lines[{index}]"
        component = components.get(component_id)
        if component is None:
            problems[key] = [f"Unknown product {component_id!r}."]
            continue
        if component.pk == product.pk:
            problems[key] = ["A product cannot be its own component."]
            continue
        if not component.is_tracked:
            problems[key] = [f"{component.sku} is a service, not a material."]
            continue
        try:
            qty = as_decimal(raw.get("quantity"), field="quantity", places=3, positive=True)
            scrap = as_decimal(raw.get("scrap_percent") or 0, field="scrap_percent", places=2)
        except ValidationFailed as exc:
            problems[key] = [exc.message]
            continue
        if scrap >= 100:
            problems[key] = ["scrap_percent must be below 100."]
            continue
        rows.append(BomLine(bom=bom, component=component, quantity=qty, scrap_percent=scrap))
    if problems:
        raise ValidationFailed(gettext("Some BOM lines are invalid."), details=problems)
    BomLine.objects.bulk_create(rows)
    audit(actor=actor, target=bom, action=AuditAction.CREATE, message=f"BOM with {len(rows)} components")
    return bom


def component_requirements(*, bom: BillOfMaterials, quantity: Decimal) -> list[tuple[BomLine, Decimal]]:
    """(line, quantity needed including scrap) for making ``quantity`` finished units."""
    factor = quantity / bom.output_quantity
    return [
        (line, q3(line.quantity * factor * (HUNDRED + line.scrap_percent) / HUNDRED))
        for line in bom.lines.select_related("component").order_by("component_id", "id")
    ]


@transaction.atomic
def production_order_create(
    *,
    bom: BillOfMaterials,
    quantity: Any,
    warehouse: Warehouse | None = None,
    planned_date: dt.date | None = None,
    actor: Any = None,
) -> ProductionOrder:
    if not bom.active:
        raise ValidationFailed(gettext("The BOM is inactive."), details={"bom": [gettext("Inactive.")]})
    qty = as_decimal(quantity, field="quantity", places=3, positive=True)
    order = ProductionOrder(
        number=next_number("MO"),
        bom=bom,
        product_id=bom.product_id,
        quantity=qty,
        warehouse=warehouse or Warehouse.objects.order_by("id").first(),
        planned_date=planned_date,
        created_by=_actor(actor),
    )
    order.full_clean()
    order.save()
    audit(actor=actor, target=order, action=AuditAction.CREATE, message=f"Production order for {qty}")
    return order


@transaction.atomic
def production_order_update(
    *,
    order: ProductionOrder,
    actor: Any = None,
    quantity: Any = None,
    warehouse: Warehouse | None = None,
    planned_date: dt.date | None = None,
) -> ProductionOrder:
    """Change a planned order's quantity, warehouse or planned date; once started it is locked (409)."""
    order = ProductionOrder.objects.select_for_update().get(pk=order.pk)
    if order.state != PS.PLANNED:
        raise Conflict(
            gettext("Order %(order)s is %(state)s; only planned orders can be changed.")
            % {"order": order, "state": order.state},
            code="order_locked",
        )
    before = {"quantity": str(order.quantity), "warehouse": order.warehouse_id, "planned_date": str(order.planned_date)}
    if quantity is not None:
        order.quantity = as_decimal(quantity, field="quantity", places=3, positive=True)
    if warehouse is not None:
        order.warehouse = warehouse
    if planned_date is not None:
        order.planned_date = planned_date
    order.full_clean()
    order.save()
    after = {"quantity": str(order.quantity), "warehouse": order.warehouse_id, "planned_date": str(order.planned_date)}
    audit(
        actor=actor,
        target=order,
        action=AuditAction.UPDATE,
        message="Production order changed",
        changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
    )
    return order


@transaction.atomic
def production_order_start(
    *, order: ProductionOrder, actor: Any = None, at: dt.datetime | None = None
) -> ProductionOrder:
    """Reserve the components; refuses (409 ``insufficient_components``) naming every short component."""
    order = ProductionOrder.objects.select_for_update().select_related("bom").get(pk=order.pk)
    require_state(order, [PS.PLANNED], "start")
    needs = component_requirements(bom=order.bom, quantity=order.quantity)
    products = lock_products(line.component_id for line, _ in needs)
    location = warehouse_stock_location(order.warehouse_id)
    levels = {
        level.product_id: level
        for level in StockLevel.objects.select_for_update().filter(
            location=location, product_id__in=[line.component_id for line, _ in needs]
        )
    }
    required: dict[int, Decimal] = {}
    for line, qty in needs:
        required[line.component_id] = required.get(line.component_id, ZERO) + qty
    short = []
    for product_id, qty in required.items():
        product = products[product_id]
        level = levels.get(product_id)
        available = level.available if level else ZERO
        if product.kind == ProductKind.STOCKABLE and available < qty:
            short.append(
                {
                    "product_id": product_id,
                    "sku": product.sku,
                    "required": str(qty),
                    "available": str(available),
                    "missing": str(qty - available),
                }
            )
    if short:
        names = ", ".join(f"{s['sku']} (missing {s['missing']})" for s in short)
        raise Conflict(
            gettext("Components are short: %(names)s.") % {"names": names},
            code="insufficient_components",
            details={"short": short},
        )
    for product_id, qty in sorted(required.items()):
        stock_reserve(product=products[product_id], location=location, quantity=qty)
    order.state = PS.IN_PROGRESS
    order.started_at = at or timezone.now()
    order.save(update_fields=["state", "started_at", "updated_at"])
    audit(actor=actor, target=order, message="Production started", changes={"state": [PS.PLANNED, PS.IN_PROGRESS]})
    return order


@transaction.atomic
def production_order_complete(
    *, order: ProductionOrder, actor: Any = None, at: dt.datetime | None = None
) -> ProductionOrder:
    """Consume the reserved components and produce the finished goods at their rolled-up cost, in one transaction;
    posts Dr WIP / Cr inventory for the materials and Dr inventory / Cr WIP for the output."""
    order = ProductionOrder.objects.select_for_update().select_related("bom").get(pk=order.pk)
    require_state(order, [PS.IN_PROGRESS], "complete")
    at = at or timezone.now()
    needs = component_requirements(bom=order.bom, quantity=order.quantity)
    products = lock_products([order.product_id, *(line.component_id for line, _ in needs)])
    location = warehouse_stock_location(order.warehouse_id)
    production = virtual_location(LocationKind.PRODUCTION)
    consumed = ZERO
    for line, qty in needs:
        move = move_apply(
            product=products[line.component_id],
            kind=MoveKind.PRODUCTION_CONSUME,
            quantity=qty,
            source=location,
            destination=production,
            reference=order.number,
            reference_obj=order,
            at=at,
            actor=actor,
            from_reserved=qty,
        )
        consumed += qty * move.unit_cost
    unit_cost = q4(consumed / order.quantity)
    move_apply(
        product=products[order.product_id],
        kind=MoveKind.PRODUCTION_PRODUCE,
        quantity=order.quantity,
        source=production,
        destination=location,
        unit_cost=unit_cost,
        reference=order.number,
        reference_obj=order,
        at=at,
        actor=actor,
    )
    value = q2(consumed)
    if value > 0:
        wip, inventory = account_id("wip"), account_id("inventory")
        journal_post(
            date=at.date(),
            lines=[
                {"account": wip, "debit": value, "credit": 0, "description": "Materials consumed"},
                {"account": inventory, "debit": 0, "credit": value, "description": "Materials consumed"},
                {"account": inventory, "debit": value, "credit": 0, "description": "Finished goods produced"},
                {"account": wip, "debit": 0, "credit": value, "description": "Finished goods produced"},
            ],
            memo=f"Production {order.number}",
            source=EntrySource.PRODUCTION,
            reference=order.number,
            actor=actor,
        )
    order.state = PS.DONE
    order.finished_at = at
    order.unit_cost = unit_cost
    order.save(update_fields=["state", "finished_at", "unit_cost", "updated_at"])
    audit(
        actor=actor,
        target=order,
        message=f"Production done at unit cost {unit_cost}",
        changes={"state": [PS.IN_PROGRESS, PS.DONE]},
    )
    return order


@transaction.atomic
def production_order_cancel(*, order: ProductionOrder, actor: Any = None) -> ProductionOrder:
    order = ProductionOrder.objects.select_for_update().select_related("bom").get(pk=order.pk)
    require_state(order, [PS.PLANNED, PS.IN_PROGRESS], "cancel")
    before = order.state
    if order.state == PS.IN_PROGRESS:
        needs = component_requirements(bom=order.bom, quantity=order.quantity)
        products = lock_products(line.component_id for line, _ in needs)
        location = warehouse_stock_location(order.warehouse_id)
        for line, qty in needs:
            stock_release(product=products[line.component_id], location=location, quantity=qty)
    order.state = PS.CANCELLED
    order.save(update_fields=["state", "updated_at"])
    audit(actor=actor, target=order, message="Production cancelled", changes={"state": [before, PS.CANCELLED]})
    return order
