"""Writes of the resource management system, one module per area: metering, quotas, plans, pools, approvals and
monitoring."""
