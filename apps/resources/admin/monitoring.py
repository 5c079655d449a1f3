"""Admin of host and service monitoring: the samples (read-only, with a chart of the last 24 hours) and the issues
(read-only, resolved by hand with an action that calls the service)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apps.core.admin_base import ReadOnlyModelAdmin
from apps.core.exceptions import ApplicationError

from ..choices import IssueStatus
from ..models import HostSample, MonitorIssue
from ..selectors.monitoring import host_sample_chart
from ..services.monitoring import monitor_issue_resolve

MANAGE = "resources.manage"


@admin.register(HostSample)
class HostSampleAdmin(ReadOnlyModelAdmin):
    list_display = (
        "taken_at",
        "host",
        "resolution",
        "cpu_percent",
        "memory_percent",
        "disk_percent",
        "load1",
        "pg_connections",
        "redis_used_memory_bytes",
        "celery_workers",
        "queue_lengths",
    )
    list_filter = ("resolution", "host")
    search_fields = ("host",)
    date_hierarchy = "taken_at"
    list_before_template = "admin/resources/bar_chart.html"
    permission_read = MANAGE

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        chart = host_sample_chart(hours=24, host=request.GET.get("host") or None)
        series = []
        for key, label, colour in (
            ("cpu", gettext("CPU %"), "#6366f1"),
            ("memory", gettext("Memory %"), "#10b981"),
            ("disk", gettext("Disk %"), "#f59e0b"),
        ):
            bars = [
                {
                    "height": 0 if slot[key] is None else max(1, round(slot[key])),
                    "title": f"{slot['start']:%H:%M} UTC: {'-' if slot[key] is None else slot[key]}",
                }
                for slot in chart
            ]
            series.append({"label": label, "colour": colour, "bars": bars})
        context = {
            "chart_title": gettext("Last 24 hours (each bar: 30 minutes)"),
            "chart_series": series,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)


@admin.register(MonitorIssue)
class MonitorIssueAdmin(ReadOnlyModelAdmin):
    list_display = (
        "opened_at",
        "host",
        "metric",
        "severity",
        "status",
        "value",
        "threshold",
        "last_seen_at",
        "resolved_at",
    )
    list_filter = ("status", "severity", "metric", "host", "resolved_manually")
    search_fields = ("host", "note")
    date_hierarchy = "opened_at"
    readonly_fields = ("suggestion",)
    actions = ["resolve_selected"]
    permission_read = MANAGE

    @admin.display(description=_("suggestion"))
    def suggestion(self, obj: MonitorIssue) -> str:
        return obj.suggestion

    @admin.action(description=_("Resolve the selected open issues"))
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[MonitorIssue]) -> None:
        if not request.user.has_perm(MANAGE):
            self.message_user(request, gettext("You may not resolve monitor issues."), messages.ERROR)
            return
        done = 0
        for issue in queryset.filter(status=IssueStatus.OPEN).order_by("id"):
            try:
                monitor_issue_resolve(issue=issue, actor=request.user, note=gettext("Resolved in the admin."))
            except ApplicationError as exc:
                self.message_user(request, f"{issue}: {exc.message}", messages.WARNING)
                continue
            done += 1
        self.message_user(
            request, ngettext("%(n)d issue resolved.", "%(n)d issues resolved.", done) % {"n": done}, messages.SUCCESS
        )
