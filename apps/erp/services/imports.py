"""CSV import of master data and opening stock. The whole file is validated first; with any bad row nothing is
imported (unless ``skip_errors``), and every problem is reported with its row number."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import ValidationFailed

from ..models import Location, Product, ProductCategory, TaxRate
from ..validation import CustomerSerializer, ProductSerializer, SupplierSerializer
from .common import as_decimal, audit
from .inventory import stock_adjust

COLUMNS: dict[str, tuple[set[str], set[str]]] = {
    # kind: (required columns, optional columns)
    "customers": (
        {"code", "name"},
        {
            "email",
            "phone",
            "contact_name",
            "billing_address",
            "shipping_address",
            "tax_id",
            "bank_account",
            "payment_terms_days",
            "credit_limit",
            "active",
        },
    ),
    "suppliers": (
        {"code", "name"},
        {
            "email",
            "phone",
            "contact_name",
            "billing_address",
            "shipping_address",
            "tax_id",
            "bank_account",
            "payment_terms_days",
            "active",
        },
    ),
    "products": (
        {"sku", "name"},
        {
            "kind",
            "uom",
            "category",
            "barcode",
            "sale_price",
            "standard_cost",
            "reorder_point",
            "reorder_quantity",
            "tax_code",
            "active",
        },
    ),
    "opening-stock": ({"sku", "location", "quantity"}, {"unit_cost"}),
}
KEYS = {"customers": "code", "suppliers": "code", "products": "sku"}


def _serializer_for(kind: str) -> Any:
    return {"customers": CustomerSerializer, "suppliers": SupplierSerializer, "products": ProductSerializer}[kind]


def _flatten(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [f"{field}: {msg}" for field, msgs in errors.items() for msg in _flatten(msgs)]
    if isinstance(errors, list):
        return [m for item in errors for m in _flatten(item)]
    return [str(errors)]


def _prepare_product(row: dict[str, str], problems: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in row.items() if v != "" and k not in ("tax_code", "category")}
    if row.get("tax_code"):
        rate = TaxRate.objects.filter(code=row["tax_code"]).first()
        if rate is None:
            problems.append(f"tax_code: unknown tax rate {row['tax_code']!r}")
        else:
            data["tax_rate"] = rate.pk
    if row.get("category"):
        data["_category"] = row["category"]
    return data


def master_data_import(*, kind: str, content: str, skip_errors: bool = False, actor: Any = None) -> dict[str, Any]:
    """Import ``content`` (CSV text with a header row). Returns {"imported", "skipped", "errors": [{row, errors}]}.
    Raises ValidationFailed (with the same errors) when rows are bad and ``skip_errors`` is off."""
    if kind not in COLUMNS:
        raise ValidationFailed(
            gettext("Unknown import kind %(kind)s.") % {"kind": repr(kind)}, details={"kind": sorted(COLUMNS)}
        )
    records = list(csv.reader(io.StringIO(content.lstrip("\ufeff"))))
    names = [h.strip() for h in (records[0] if records else [])]
    header = {h for h in names if h}
    required, optional = COLUMNS[kind]
    missing, unknown = required - header, header - required - optional
    if missing or unknown:
        raise ValidationFailed(
            gettext("The file has the wrong columns."),
            code="invalid_columns",
            details={"missing": sorted(missing), "unknown": sorted(unknown), "expected": sorted(required | optional)},
        )
    errors: list[dict[str, Any]] = []
    valid: list[tuple[int, Any]] = []
    seen: set[str] = set()
    for number, values in enumerate(records[1:], start=2):  # row 1 is the header; blank rows keep their number
        if not any(value.strip() for value in values):
            continue
        problems: list[str] = []
        if len(values) > len(names) and any(value.strip() for value in values[len(names) :]):
            problems.append(f"the row has {len(values)} values for {len(names)} columns")
        row = {name: value.strip() for name, value in zip(names, values, strict=False) if name}
        prepared: dict[str, Any] | tuple[Any, Any]  # a stock row, or (serializer, category)
        if kind == "opening-stock":
            prepared = _prepare_stock_row(row, problems)
        else:
            key = row.get(KEYS[kind], "")
            if key in seen:
                problems.append(f"{KEYS[kind]}: duplicate {key!r} in the file")
            seen.add(key)
            data = _prepare_product(row, problems) if kind == "products" else {k: v for k, v in row.items() if v != ""}
            category = data.pop("_category", None)
            serializer = _serializer_for(kind)(data=data)
            if not serializer.is_valid():
                problems.extend(_flatten(serializer.errors))
            prepared = (serializer, category)
        if problems:
            errors.append({"row": number, "errors": problems})
        else:
            valid.append((number, prepared))
    if errors and not skip_errors:
        raise ValidationFailed(
            gettext("%(errors)s row(s) have errors; nothing was imported.") % {"errors": len(errors)},
            code="import_failed",
            details=errors,
        )
    with transaction.atomic():
        for _, prepared in valid:
            _save(kind, prepared, actor)
    return {"imported": len(valid), "skipped": len(errors), "errors": errors}


def spreadsheet_to_csv(data: bytes) -> str:
    """The first sheet of an XLSX workbook as CSV text (row numbers are kept, so errors name the sheet's rows)."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise ValidationFailed(gettext("The file is not a readable XLSX workbook."), code="invalid_file") from None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    try:
        for cells in workbook.worksheets[0].iter_rows(values_only=True):
            writer.writerow([_cell_text(cell) for cell in cells])
    finally:
        workbook.close()
    return buffer.getvalue()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def _prepare_stock_row(row: dict[str, str], problems: list[str]) -> dict[str, Any]:
    product = Product.objects.filter(sku=row.get("sku")).first()
    location = Location.objects.filter(code=row.get("location"), kind="internal").first()
    if product is None:
        problems.append(f"sku: unknown product {row.get('sku')!r}")
    elif not product.is_tracked:
        problems.append(f"sku: {product.sku} is a service")
    if location is None:
        problems.append(f"location: unknown internal location {row.get('location')!r}")
    quantity = cost = None
    try:
        quantity = as_decimal(row.get("quantity"), field="quantity", places=3, positive=True)
        cost = as_decimal(row.get("unit_cost") or "0", field="unit_cost", places=4) if row.get("unit_cost") else None
    except ValidationFailed as exc:
        problems.append(exc.message)
    return {"product": product, "location": location, "quantity": quantity, "unit_cost": cost}


def _save(kind: str, prepared: Any, actor: Any) -> None:
    if kind == "opening-stock":
        stock_adjust(**prepared, reason="Opening stock (import)", actor=actor, counter_account="opening_equity")
        return
    serializer, category = prepared
    extra = {}
    if category:
        extra["category"] = ProductCategory.objects.get_or_create(name=category)[0]
    instance = serializer.save(**extra)
    audit(actor=actor, target=instance, action=AuditAction.CREATE, message="Imported from CSV")
