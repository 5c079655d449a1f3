"""Admin of the resource management system, one module per area."""

# --- pools, reservations and approvals ---
from . import approvals, pools  # noqa: F401  (registers the admins)
