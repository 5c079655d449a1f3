"""Models of the resource management system, one module per area."""

from .approvals import ApprovalRequest  # pools, reservations and approvals
from .metering import QuotaCounter, QuotaHold, QuotaNotice, UsageDaily
from .monitoring import HostSample, MonitorIssue
from .permissions import ResourcesPermission
from .plans import Plan, PlanAssignment, PlanLimit, QuotaOverride
from .pools import PoolReservation, ResourcePool  # pools, reservations and approvals

__all__ = [
    "ApprovalRequest",
    "HostSample",
    "MonitorIssue",
    "Plan",
    "PlanAssignment",
    "PlanLimit",
    "PoolReservation",
    "QuotaCounter",
    "QuotaHold",
    "QuotaNotice",
    "QuotaOverride",
    "ResourcePool",
    "ResourcesPermission",
    "UsageDaily",
]
