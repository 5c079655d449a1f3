"""Models of the resource management system, one module per area."""

from .metering import QuotaCounter, QuotaHold, QuotaNotice, UsageDaily
from .monitoring import HostSample, MonitorIssue
from .permissions import ResourcesPermission
from .plans import Plan, PlanAssignment, PlanLimit, QuotaOverride

__all__ = [
    "HostSample",
    "MonitorIssue",
    "Plan",
    "PlanAssignment",
    "PlanLimit",
    "QuotaCounter",
    "QuotaHold",
    "QuotaNotice",
    "QuotaOverride",
    "ResourcesPermission",
    "UsageDaily",
]
