"""FilterSets of the resource management API, one block per area."""

from __future__ import annotations

import django_filters

from apps.core.filtersets import BaseFilterSet, UTCIsoDateTimeFilter

# --- pools, reservations and approvals ------------------------------------------------------------------------------
from .models import ApprovalRequest, PoolReservation, ResourcePool


class ResourcePoolFilterSet(BaseFilterSet):
    q_fields = ("name", "description")

    class Meta:
        model = ResourcePool
        fields = ["name", "kind", "active", "queue_name"]


class PoolReservationFilterSet(BaseFilterSet):
    pool_id = django_filters.NumberFilter(field_name="pool_id")
    user_id = django_filters.NumberFilter(field_name="user_id")
    group_id = django_filters.NumberFilter(field_name="group_id")
    # reservations overlapping [start, end): ending after start, starting before end
    start = UTCIsoDateTimeFilter(field_name="ends_at", lookup_expr="gt")
    end = UTCIsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")
    q_fields = ("purpose", "pool__name")

    class Meta:
        model = PoolReservation
        fields = ["pool_id", "user_id", "group_id", "status", "priority", "start", "end"]


class ApprovalRequestFilterSet(BaseFilterSet):
    requester_id = django_filters.NumberFilter(field_name="requester_id")
    decided_by_id = django_filters.NumberFilter(field_name="decided_by_id")
    q_fields = ("summary", "action")

    class Meta:
        model = ApprovalRequest
        fields = ["action", "status", "requester_id", "decided_by_id"]
