"""Back office of metering, plans and quotas: plans with their limits inline, assignments and overrides written
through the same services as the API, usage with a 30-day chart, quota counters with a bar of each limit used."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.admin_base import BaseModelAdmin, BaseTabularInline, ReadOnlyModelAdmin
from apps.core.exceptions import ApplicationError

from ..meters import METERS
from ..models import Plan, PlanAssignment, PlanLimit, QuotaCounter, QuotaHold, QuotaNotice, QuotaOverride, UsageDaily
from ..periods import period_start
from ..selectors.quotas import effective_limits, exhaustion_forecast
from ..selectors.usage import usage_daily_series
from ..services.plans import plan_assign, quota_override_set

MANAGE = "resources.manage"
COLOURS = ("#6366f1", "#10b981", "#f59e0b", "#ef4444")


def _number(value: Decimal) -> str:
    """A quantity without trailing zeros and without an exponent (``10``, not ``1E+1``)."""
    return format(value.normalize(), "f")


def _bar(used: Decimal, limit: Decimal | None) -> str:
    if limit is None:
        return format_html("{} ({})", _number(used), gettext("no limit"))
    percent = min(100, int(used * 100 / limit)) if limit > 0 else 100
    colour = "#dc2626" if percent >= 100 else "#f59e0b" if percent >= 80 else "#16a34a"
    return format_html(
        '<div style="width:140px;background:#e5e7eb;border-radius:3px" title="{}%">'
        '<div style="width:{}%;background:{};height:8px;border-radius:3px"></div></div>{} / {}',
        percent,
        percent,
        colour,
        _number(used),
        _number(limit),
    )


class PlanLimitInline(BaseTabularInline):
    model = PlanLimit
    extra = 1
    permission_read = permission_write = MANAGE


@admin.register(Plan)
class PlanAdmin(BaseModelAdmin):
    permission_read = permission_write = MANAGE
    list_display = ["code", "name", "tier", "is_default", "active", "limit_count"]
    list_filter = ["tier", "active", "is_default"]
    search_fields = ["code", "name"]
    inlines = [PlanLimitInline]

    @admin.display(description=_("Limits"))
    def limit_count(self, obj: Plan) -> int:
        return obj.limits.count()


@admin.register(PlanAssignment)
class PlanAssignmentAdmin(BaseModelAdmin):
    permission_read = permission_write = MANAGE
    list_display = ["plan", "user", "group", "assigned_by", "created_at"]
    list_filter = ["plan"]
    search_fields = ["user__username", "group__name", "plan__code"]
    autocomplete_fields = ["user"]
    exclude = ["assigned_by"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            saved = plan_assign(plan=obj.plan, user=obj.user, group=obj.group, actor=request.user)
            obj.pk = saved.pk
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(QuotaOverride)
class QuotaOverrideAdmin(BaseModelAdmin):
    permission_read = permission_write = MANAGE
    list_display = ["user", "meter", "period", "limit", "expires_at", "reason", "created_by"]
    list_filter = ["meter", "period"]
    search_fields = ["user__username", "reason"]
    autocomplete_fields = ["user"]
    exclude = ["created_by"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            saved = quota_override_set(
                user=obj.user,
                meter=obj.meter,
                period=obj.period,
                limit=obj.limit,
                reason=obj.reason,
                expires_at=obj.expires_at,
                actor=request.user,
            )
            obj.pk = saved.pk
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(UsageDaily)
class UsageDailyAdmin(ReadOnlyModelAdmin):
    permission_read = MANAGE
    list_display = ["day", "meter", "user", "api_key", "dimension", "quantity", "events"]
    list_filter = ["meter", "day"]
    search_fields = ["user__username", "dimension"]
    date_hierarchy = "day"
    list_select_related = ["user", "api_key"]
    list_before_template = "admin/resources/bar_chart.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        series = []
        for n, (meter, points) in enumerate(usage_daily_series(days=30)):
            peak = max((total for _, total in points), default=Decimal(0)) or Decimal(1)
            bars = [
                {"height": 0 if not total else max(1, int(total * 100 / peak)), "title": f"{day}: {_number(total)}"}
                for day, total in points
            ]
            series.append({"label": METERS[meter].label, "colour": COLOURS[n % len(COLOURS)], "bars": bars})
        context = {
            "chart_title": gettext("Usage of the last 30 days (each bar: one day)"),
            "chart_series": series,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)


@admin.register(QuotaCounter)
class QuotaCounterAdmin(ReadOnlyModelAdmin):
    permission_read = MANAGE
    list_display = ["user", "meter", "period", "period_start", "quota_bar", "reserved", "runs_out", "updated_at"]
    list_filter = ["meter", "period", "period_start"]
    search_fields = ["user__username"]
    list_select_related = ["user"]

    @admin.display(description=_("Used of the limit"))
    def quota_bar(self, obj: QuotaCounter) -> str:
        limit = effective_limits(user_id=obj.user_id).get((obj.meter, obj.period))
        return _bar(obj.used, limit.limit if limit else None)

    @admin.display(description=_("Runs out on"))
    def runs_out(self, obj: QuotaCounter) -> Any:
        """At the current daily rate (a counter of a past period, or without a limit, shows nothing)."""
        limit = effective_limits(user_id=obj.user_id).get((obj.meter, obj.period))
        if limit is None or obj.period_start != period_start(obj.period):
            return "-"
        day = exhaustion_forecast(
            user_id=obj.user_id, meter=obj.meter, period=obj.period, limit=limit.limit, used=obj.used
        )
        return day or "-"


@admin.register(QuotaNotice)
class QuotaNoticeAdmin(ReadOnlyModelAdmin):
    permission_read = MANAGE
    list_display = ["created_at", "user", "meter", "period", "threshold", "used", "limit", "read"]
    list_filter = ["threshold", "meter", "read"]
    search_fields = ["user__username"]


@admin.register(QuotaHold)
class QuotaHoldAdmin(ReadOnlyModelAdmin):
    permission_read = MANAGE
    list_display = ["created_at", "user", "purpose", "status", "expires_at", "closed_at"]
    list_filter = ["status", "purpose"]
    search_fields = ["user__username", "purpose"]
