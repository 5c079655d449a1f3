"""API of metering, plans and quotas. Thin: selectors read, services write.

Everyone sees their own usage, counters, notices and quota status; ``resources.manage`` sees everyone's and
changes plans, limits, assignments and overrides."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.exceptions import Forbidden
from apps.core.permissions import Authenticated, RequirePermission
from apps.core.viewsets import BaseAPIView, BaseModelViewSet, OwnedObjectsMixin, UserLanguageMixin

from ...filtersets import (
    PlanAssignmentFilterSet,
    PlanFilterSet,
    PlanLimitFilterSet,
    QuotaCounterFilterSet,
    QuotaNoticeFilterSet,
    QuotaOverrideFilterSet,
    UsageFilterSet,
)
from ...models import Plan, PlanAssignment, PlanLimit, QuotaCounter, QuotaNotice, QuotaOverride, UsageDaily
from ...selectors.quotas import meter_catalogue, plan_of, quota_status
from ...selectors.usage import usage_summary
from ...services import plans as plan_services
from ..serializers import metering as s

MANAGE = "resources.manage"


class MeterView(BaseAPIView):
    """The meters: what is counted, in which unit, over which periods it can be limited."""

    permission_classes = [Authenticated]

    @extend_schema(responses=s.MeterSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.MeterSerializer(meter_catalogue(), many=True).data)


def _status_body(user: Any) -> dict[str, Any]:
    plan = plan_of(user_id=user.pk)
    lines = quota_status(user_id=user.pk)
    return {
        "user": user.pk,
        "username": user.get_username(),
        "plan": plan.code if plan else None,
        "unread_notices": QuotaNotice.objects.filter(user=user, read=False).count(),
        "quotas": [
            {
                "meter": line.meter,
                "period": line.period,
                "limit": line.limit,
                "used": line.used,
                "reserved": line.reserved,
                "remaining": line.remaining,
                "ratio": round(line.ratio, 4),
                "source": line.source,
                "plan": line.plan,
                "resets_at": line.resets_at,
                "exhausted_on": line.exhausted_on,
            }
            for line in lines
        ],
    }


class MyQuotaView(BaseAPIView):
    """The caller's plan and, per limited meter and period: limit, used, reserved, remaining, reset time and the
    day the limit runs out at the current rate."""

    permission_classes = [Authenticated]

    @extend_schema(responses=s.QuotaStatusSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.QuotaStatusSerializer(_status_body(request.user)).data)


class UserQuotaView(BaseAPIView):
    """Any user's quota status (resources.manage)."""

    permission_classes = [RequirePermission(MANAGE)]

    @extend_schema(responses=s.QuotaStatusSerializer)
    def get(self, request: Request, user_id: int) -> Response:
        user = get_object_or_404(get_user_model(), pk=user_id)
        return Response(s.QuotaStatusSerializer(_status_body(user)).data)


class _OwnRowsViewSet(
    UserLanguageMixin, OwnedObjectsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Rows that belong to a user: their own for everyone, all of them for resources.manage."""

    permission_classes = [Authenticated]
    manage_permission = MANAGE
    owner_field = "user"


class UsageViewSet(_OwnRowsViewSet):
    """Metered usage per day, user, API key, meter and dimension (the model, for LLM meters). ``summary`` adds it up
    by day, meter, user, API key, group or dimension (``manage.py resources_usage_report --format csv`` exports it)."""

    queryset = UsageDaily.objects.select_related("user").order_by("-day", "meter", "id")
    serializer_class = s.UsageSerializer
    filterset_class = UsageFilterSet
    ordering_fields = ["day", "meter", "quantity"]

    @extend_schema(parameters=[s.UsageSummaryQuerySerializer], responses=s.UsageSummaryRowSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request: Request) -> Response:
        query = s.UsageSummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = self.filter_queryset(self.get_queryset())
        result = usage_summary(rows=rows, by=query.validated_data["by"])[:5000]
        return Response(s.UsageSummaryRowSerializer(result, many=True).data)


class QuotaCounterViewSet(_OwnRowsViewSet):
    """What each user used and holds of each limited meter per period."""

    queryset = QuotaCounter.objects.order_by("-period_start", "meter", "id")
    serializer_class = s.QuotaCounterSerializer
    filterset_class = QuotaCounterFilterSet
    ordering_fields = ["period_start", "meter", "used"]


class QuotaResetView(BaseAPIView):
    """Start the current day or month again (used back to 0) for one user or everyone, one meter or all
    (resources.manage; audited). Levels (storage) are never reset."""

    permission_classes = [RequirePermission(MANAGE)]

    @extend_schema(request=s.CountersResetSerializer, responses=s.CountersResetResultSerializer)
    def post(self, request: Request) -> Response:
        body = s.CountersResetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        count = plan_services.counters_reset(
            period=body.validated_data["period"],
            user=body.validated_data.get("user"),
            meter=body.validated_data.get("meter"),
            actor=request.user,
        )
        return Response({"reset": count})


class QuotaNoticeViewSet(_OwnRowsViewSet):
    """Notices written when a user reaches 80 % and 100 % of a limit (once per period). ``read`` marks one read."""

    queryset = QuotaNotice.objects.order_by("-created_at", "id")
    serializer_class = s.QuotaNoticeSerializer
    filterset_class = QuotaNoticeFilterSet
    ordering_fields = ["created_at", "threshold"]

    @extend_schema(request=None, responses=s.QuotaNoticeSerializer)
    @action(detail=True, methods=["post"], url_path="read")
    def mark_read(self, request: Request, pk: str | None = None) -> Response:
        notice = self.get_object()
        if notice.user_id != request.user.pk:
            raise Forbidden(gettext("Only the user a notice was written for marks it read."))
        QuotaNotice.objects.filter(pk=notice.pk).update(read=True)
        notice.read = True
        return Response(s.QuotaNoticeSerializer(notice).data)


class PlanViewSet(BaseModelViewSet):
    """Plans and their limits (resources.manage); a user sees their own plan's limits in my-quota."""

    queryset = Plan.objects.prefetch_related("limits").order_by("code")
    serializer_class = s.PlanSerializer
    filterset_class = PlanFilterSet
    required_permissions: ClassVar = {"read": MANAGE, "write": MANAGE}
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "tier"]


class PlanLimitViewSet(BaseModelViewSet):
    queryset = PlanLimit.objects.select_related("plan").order_by("plan__code", "meter", "period")
    serializer_class = s.PlanLimitSerializer
    filterset_class = PlanLimitFilterSet
    required_permissions: ClassVar = {"read": MANAGE, "write": MANAGE}
    ordering_fields = ["meter", "period", "limit"]


class PlanAssignmentViewSet(BaseModelViewSet):
    """Which user or group has which plan (resources.manage)."""

    queryset = PlanAssignment.objects.select_related("plan", "user", "group").order_by("-created_at")
    serializer_class = s.PlanAssignmentSerializer
    filterset_class = PlanAssignmentFilterSet
    required_permissions: ClassVar = {"read": MANAGE, "write": MANAGE}
    ordering_fields = ["created_at"]

    def create_object(self, serializer: Any, **extra: Any) -> Any:
        data = serializer.validated_data
        return plan_services.plan_assign(
            plan=data["plan"], user=data.get("user"), group=data.get("group"), actor=self.request.user
        )


class QuotaOverrideViewSet(BaseModelViewSet):
    """Per-user limits that win over every plan (resources.manage). Above the user's plan: 409
    ``approval_required``; request ``quota.raise_limit`` instead."""

    queryset = QuotaOverride.objects.select_related("user").order_by("-created_at")
    serializer_class = s.QuotaOverrideSerializer
    filterset_class = QuotaOverrideFilterSet
    required_permissions: ClassVar = {"read": MANAGE, "write": MANAGE}
    ordering_fields = ["created_at", "meter"]

    def create_object(self, serializer: Any, **extra: Any) -> Any:
        data = serializer.validated_data
        return plan_services.quota_override_set(
            user=data["user"],
            meter=data["meter"],
            period=data["period"],
            limit=data["limit"],
            reason=data.get("reason", ""),
            expires_at=data.get("expires_at"),
            actor=self.request.user,
        )

    def update_object(self, serializer: Any) -> Any:
        instance, data = serializer.instance, serializer.validated_data
        return plan_services.quota_override_set(
            user=data.get("user", instance.user),
            meter=data.get("meter", instance.meter),
            period=data.get("period", instance.period),
            limit=data.get("limit", instance.limit),
            reason=data.get("reason", instance.reason),
            expires_at=data.get("expires_at", instance.expires_at),
            actor=self.request.user,
        )

    def destroy_object(self, instance: Any) -> None:
        plan_services.quota_override_delete(override=instance, actor=self.request.user)


__all__ = [
    "MeterView",
    "MyQuotaView",
    "PlanAssignmentViewSet",
    "PlanLimitViewSet",
    "PlanViewSet",
    "QuotaCounterViewSet",
    "QuotaNoticeViewSet",
    "QuotaOverrideViewSet",
    "QuotaResetView",
    "UsageViewSet",
    "UserQuotaView",
]
