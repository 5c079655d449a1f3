"""Scheduled ERP jobs; each delegates to a service shared with the management commands."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import conf
from .services import housekeeping


@shared_task(name="erp.draft_reorder_purchase_orders")
def draft_reorder_purchase_orders() -> dict[str, Any]:
    """Nightly: draft purchase orders for products under their reorder point (ERP_REORDER_AUTO_DRAFT)."""
    if not conf.reorder_auto_draft():
        return {"drafted": [], "skipped": "ERP_REORDER_AUTO_DRAFT is off"}
    return {"drafted": [order.number for order in housekeeping.reorder_draft_purchase_orders()]}


@shared_task(name="erp.flag_overdue_invoices")
def flag_overdue_invoices() -> int:
    """Nightly: mark open invoices past due."""
    return housekeeping.invoices_flag_overdue()


@shared_task(name="erp.snapshot_kpis")
def snapshot_kpis() -> dict[str, Any]:
    """Daily: store the KPI snapshot the dashboards read and update the Prometheus business gauges."""
    return housekeeping.kpi_snapshot_take().data
