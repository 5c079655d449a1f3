"""ERP reads: stock and reorder (inventory), financial and sales reports (reports), dashboard KPIs (dashboard)."""
