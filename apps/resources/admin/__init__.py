"""Admin of the resource management system, one module per area."""
