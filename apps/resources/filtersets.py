"""FilterSets of the resource management API, one block per area."""

from __future__ import annotations

import django_filters

from apps.core.filtersets import BaseFilterSet, UTCIsoDateTimeFilter

from .models import (
    ApprovalRequest,
    Plan,
    PlanAssignment,
    PlanLimit,
    PoolReservation,
    QuotaCounter,
    QuotaNotice,
    QuotaOverride,
    ResourcePool,
    UsageDaily,
)

# --- metering and quotas ----------------------------------------------------------------------------------------------


class UsageFilterSet(BaseFilterSet):
    start = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    end = django_filters.DateFilter(field_name="day", lookup_expr="lte")
    user_id = django_filters.NumberFilter(field_name="user_id")
    api_key_id = django_filters.NumberFilter(field_name="api_key_id")
    group_id = django_filters.NumberFilter(field_name="user__groups__id", distinct=True)
    q_fields = ("dimension", "user__username")

    class Meta:
        model = UsageDaily
        fields = ["meter", "day", "start", "end", "user_id", "api_key_id", "group_id", "dimension"]


class PlanFilterSet(BaseFilterSet):
    q_fields = ("code", "name", "description")

    class Meta:
        model = Plan
        fields = ["tier", "is_default", "active"]


class PlanLimitFilterSet(BaseFilterSet):
    plan_id = django_filters.NumberFilter(field_name="plan_id")

    class Meta:
        model = PlanLimit
        fields = ["plan_id", "meter", "period"]


class PlanAssignmentFilterSet(BaseFilterSet):
    plan_id = django_filters.NumberFilter(field_name="plan_id")
    user_id = django_filters.NumberFilter(field_name="user_id")
    group_id = django_filters.NumberFilter(field_name="group_id")
    q_fields = ("user__username", "group__name", "plan__code")

    class Meta:
        model = PlanAssignment
        fields = ["plan_id", "user_id", "group_id"]


class QuotaOverrideFilterSet(BaseFilterSet):
    user_id = django_filters.NumberFilter(field_name="user_id")
    q_fields = ("user__username", "reason")

    class Meta:
        model = QuotaOverride
        fields = ["user_id", "meter", "period"]


class QuotaCounterFilterSet(BaseFilterSet):
    user_id = django_filters.NumberFilter(field_name="user_id")

    class Meta:
        model = QuotaCounter
        fields = ["user_id", "meter", "period", "period_start"]


class QuotaNoticeFilterSet(BaseFilterSet):
    user_id = django_filters.NumberFilter(field_name="user_id")

    class Meta:
        model = QuotaNotice
        fields = ["user_id", "meter", "period", "threshold", "read"]


# --- pools, reservations and approvals ------------------------------------------------------------------------------


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
