"""Admin: providers (with a connection test), models, conversations with their messages (read-only), feedback and a
usage dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from guardian.admin import GuardedModelAdminMixin
from unfold.admin import TabularInline

from apps.core.admin_base import BaseModelAdmin, ReadOnlyModelAdmin
from apps.core.choices import AuditAction
from apps.core.services import audit_record

from .client import UpstreamError
from .models import ChatModel, Conversation, Feedback, Message, Provider, Usage
from .selectors import usage_summary
from .services import provider_test_connection

ADMIN_PERM = "core.audit"


@admin.register(Provider)
class ProviderAdmin(BaseModelAdmin):
    list_display = ("name", "kind", "base_url", "timeout", "enabled")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "base_url")
    actions = ("test_connection",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    permission_read = ADMIN_PERM
    permission_write = ADMIN_PERM

    @admin.action(description="Test connection (list the upstream's models)")
    def test_connection(self, request: HttpRequest, queryset: Any) -> None:
        for provider in queryset:
            try:
                found = provider_test_connection(provider=provider)
            except UpstreamError as exc:
                self.message_user(request, f"{provider}: {exc.message}", level=messages.ERROR)
                outcome = exc.message
            else:
                self.message_user(request, f"{provider}: reachable; models: {', '.join(found) or 'none'}")
                outcome = "ok"
            audit_record(
                action=AuditAction.ACTION, actor=request.user, target=provider, message=f"connection test: {outcome}"
            )


@admin.register(ChatModel)
class ChatModelAdmin(BaseModelAdmin):
    list_display = (
        "slug",
        "display_name",
        "provider",
        "upstream_model",
        "price_input_per_1k",
        "price_output_per_1k",
        "enabled",
    )
    list_filter = ("enabled", "provider")
    search_fields = ("slug", "display_name", "upstream_model")
    filter_horizontal = ("knowledge_bases", "visible_to_groups")
    list_select_related = ("provider",)
    permission_read = "chat.use"
    permission_write = ADMIN_PERM


class MessageInline(TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = (
        "role",
        "content",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "cost",
        "latency_ms",
        "error",
        "incomplete",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(GuardedModelAdminMixin, ReadOnlyModelAdmin):
    list_display = ("__str__", "owner", "model", "origin", "archived", "updated_at")
    list_filter = ("origin", "archived", "model")
    search_fields = ("title", "owner__username")
    list_select_related = ("owner", "model")
    inlines = (MessageInline,)
    permission_read = ADMIN_PERM


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyModelAdmin):
    list_display = ("message", "user", "rating", "comment", "created_at")
    list_filter = ("rating",)
    list_select_related = ("message", "user")
    permission_read = ADMIN_PERM


@admin.register(Usage)
class UsageAdmin(ReadOnlyModelAdmin):
    """Tokens and cost by day, user and model over the last ``?days=`` days (30 by default), with a chart."""

    permission_read = ADMIN_PERM

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        try:
            days = min(max(int(request.GET.get("days", 30)), 1), 366)
        except ValueError:
            days = 30
        date_to = timezone.now().date()
        date_from = date_to - dt.timedelta(days=days - 1)
        by_day = usage_summary(date_from=date_from, date_to=date_to, group_by="day")
        peak = max((row["total_tokens"] for row in by_day), default=0) or 1
        for row in by_day:
            row["bar"] = round(100 * row["total_tokens"] / peak)
        context = {
            **self.admin_site.each_context(request),
            "title": "Chat usage",
            "opts": self.model._meta,
            "days": days,
            "date_from": date_from,
            "date_to": date_to,
            "by_day": by_day,
            "by_model": usage_summary(date_from=date_from, date_to=date_to, group_by="model"),
            "by_user": usage_summary(date_from=date_from, date_to=date_to, group_by="user"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/chat/usage.html", context)
