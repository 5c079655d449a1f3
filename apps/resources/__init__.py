"""Resource management: Resource pools, quotas and allocations."""
