"""Admin of the resource management system, one module per area."""

# --- host and service monitoring
from . import monitoring  # noqa: F401
