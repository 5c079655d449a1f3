"""Admin of the resource management system, one module per area (importing them registers the admins)."""

from . import approvals, metering, monitoring, pools  # noqa: F401
