"""API of host and service monitoring: samples and issues to read, and the manual resolution of an issue. Everything
needs resources.manage (managers and admins)."""

from __future__ import annotations

from typing import ClassVar

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.filtersets import BaseFilterSet, UTCIsoDateTimeFilter
from apps.core.schema import ErrorSerializer
from apps.core.viewsets import BaseReadOnlyViewSet

from ...models import HostSample, MonitorIssue
from ...services.monitoring import monitor_issue_resolve
from ..serializers import monitoring as s

MANAGE = "resources.manage"


class HostSampleFilterSet(BaseFilterSet):
    since = UTCIsoDateTimeFilter(field_name="taken_at", lookup_expr="gte")
    until = UTCIsoDateTimeFilter(field_name="taken_at", lookup_expr="lt")

    q_fields = ("host",)

    class Meta:
        model = HostSample
        fields: ClassVar = ["host", "resolution", "since", "until"]


class MonitorIssueFilterSet(BaseFilterSet):
    opened_since = UTCIsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_until = UTCIsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    resolved_manually = django_filters.BooleanFilter()

    q_fields = ("host", "note")

    class Meta:
        model = MonitorIssue
        fields: ClassVar = ["host", "metric", "severity", "status", "resolved_manually", "opened_since", "opened_until"]


class HostSampleViewSet(BaseReadOnlyViewSet):
    """Host and service samples: raw (every minute, kept a day) and hourly averages (kept 30 days). Filters `host`,
    `resolution`, `since`, `until` (on `taken_at`)."""

    queryset = HostSample.objects.order_by("-taken_at", "-id")
    serializer_class = s.HostSampleSerializer
    filterset_class = HostSampleFilterSet
    required_permissions: ClassVar = {"read": MANAGE}
    ordering_fields: ClassVar = ["taken_at", "cpu_percent", "memory_percent", "disk_percent"]


class MonitorIssueViewSet(BaseReadOnlyViewSet):
    """Issues opened by the thresholds of the host samples, with a suggestion; resolved automatically when the value
    falls back under the warning threshold, or by hand (`resolve`)."""

    queryset = MonitorIssue.objects.order_by("-opened_at", "-id")
    serializer_class = s.MonitorIssueSerializer
    filterset_class = MonitorIssueFilterSet
    required_permissions: ClassVar = {"read": MANAGE, "write": MANAGE}
    ordering_fields: ClassVar = ["opened_at", "last_seen_at", "severity", "value"]

    @extend_schema(
        request=s.MonitorIssueResolveSerializer,
        responses={
            200: s.MonitorIssueSerializer,
            404: OpenApiResponse(ErrorSerializer, "No such issue."),
            409: OpenApiResponse(ErrorSerializer, "The issue is already resolved."),
        },
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Resolve an open issue by hand, with an optional note (audited)."""
        payload = s.MonitorIssueResolveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        issue = monitor_issue_resolve(issue=self.get_object(), actor=request.user, note=payload.validated_data["note"])
        return Response(s.MonitorIssueSerializer(issue).data)
