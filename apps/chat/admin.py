"""Admin: providers (with a connection test), models, conversations with their messages (read-only), feedback and a
usage dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdminMixin

from apps.core.admin_base import BaseModelAdmin, OwnedObjectsAdminMixin, ReadOnlyModelAdmin, ReadOnlyTabularInline
from apps.core.choices import AuditAction
from apps.core.exceptions import ApplicationError
from apps.core.services import audit_record

from .models import ChatModel, Conversation, Feedback, Message, Provider, Usage, UsageRecord
from .selectors import models_usable_by, usage_summary
from .services import provider_test_connection
from .services.providers import may_allow_private_network, provider_address_check
from .tools import get_tool, registered_names

ADMIN_PERM = "core.audit"  # other people's conversations and feedback
MANAGE_PERM = "resources.manage"  # providers, models and everyone's usage (admins and managers)


class ProviderAdminForm(forms.ModelForm):
    """The API key is write-only: never shown again; left blank it is kept, and it is removed only on request."""

    api_key = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label=_("API key"),
        help_text=_("Leave blank to keep the stored key."),
    )
    clear_api_key = forms.BooleanField(required=False, label=_("Remove the stored API key"))
    base_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label=_("base URL"),
        help_text=_("e.g. https://api.openai.com/v1"),
    )

    class Meta:
        model = Provider
        fields = ("name", "kind", "base_url", "api_key", "extra_headers", "timeout", "enabled", "allow_private_network")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stored_key = self.instance.api_key if self.instance.pk else ""
        self.actor: Any = None  # set by ProviderAdmin.get_form
        if self._stored_key:
            self.fields["api_key"].help_text = gettext("A key is stored. Leave blank to keep it.")

    def clean_api_key(self) -> str:
        return str(self.cleaned_data.get("api_key") or "") or self._stored_key

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("clear_api_key"):
            cleaned["api_key"] = ""
            self.instance.api_key = ""
        allowed = cleaned.get("allow_private_network", self.instance.allow_private_network)
        candidate = Provider(
            kind=cleaned.get("kind", self.instance.kind),
            base_url=cleaned.get("base_url", self.instance.base_url) or "",
            allow_private_network=bool(allowed),
        )
        before = Provider.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        try:
            provider_address_check(provider=candidate, actor=self.actor, before=before)
        except ApplicationError as exc:
            self.add_error("base_url", exc.message)
        return cleaned


@admin.register(Provider)
class ProviderAdmin(BaseModelAdmin):
    form = ProviderAdminForm
    list_display = ("name", "kind", "base_url", "timeout", "enabled")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "base_url")
    actions = ("test_connection",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    permission_read = MANAGE_PERM
    permission_write = MANAGE_PERM

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)

        class ActorForm(form):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                self.actor = request.user

        return ActorForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if not may_allow_private_network(request.user):
            fields += ("allow_private_network",)
        return fields

    @admin.action(description=_("Test connection (list the upstream's models)"))
    def test_connection(self, request: HttpRequest, queryset: Any) -> None:
        for provider in queryset:
            result = provider_test_connection(provider=provider)
            if result.ok:
                self.message_user(
                    request,
                    gettext("%(provider)s: reachable; models: %(models)s")
                    % {"provider": provider, "models": ", ".join(result.models) or gettext("none")},
                )
                outcome = "ok"
            else:
                self.message_user(request, f"{provider}: {result.error}", level=messages.ERROR)
                outcome = result.error
            audit_record(
                action=AuditAction.ACTION, actor=request.user, target=provider, message=f"connection test: {outcome}"
            )


class ChatModelAdminForm(forms.ModelForm):
    """The model's tools as a choice among the registered tools (each shown with the permission it needs)."""

    tools = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("tools"),
        help_text=_("Each tool runs with the calling user's permissions; a user lacking one is not offered the tool."),
    )

    class Meta:
        model = ChatModel
        fields = (
            "slug",
            "display_name",
            "provider",
            "upstream_model",
            "system_prompt",
            "temperature",
            "max_tokens",
            "context_window",
            "knowledge_bases",
            "tools",
            "price_input_per_1k",
            "price_output_per_1k",
            "visible_to_groups",
            "enabled",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = []
        for name in registered_names():
            tool = get_tool(name)
            needs = (
                gettext(" (needs %(permissions)s)") % {"permissions": ", ".join(tool.permissions)}
                if tool and tool.permissions
                else ""
            )
            choices.append((name, f"{name}{needs}"))
        self.fields["tools"].choices = choices

    def clean_tools(self) -> list[str]:
        return list(self.cleaned_data.get("tools") or [])


@admin.register(ChatModel)
class ChatModelAdmin(OwnedObjectsAdminMixin, BaseModelAdmin):
    """Holders of resources.manage see and manage every model; chat users see the models offered to them."""

    form = ChatModelAdminForm
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
    permission_write = MANAGE_PERM

    def visible_queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if request.user.has_perm(MANAGE_PERM):
            return queryset
        return queryset.filter(pk__in=models_usable_by(request.user).values("pk"))


class MessageInline(ReadOnlyTabularInline):
    model = Message
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

    permission_read = MANAGE_PERM

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
            "title": gettext("Chat usage"),
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


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyModelAdmin):
    """The AI gateway's ledger: every upstream call with its purpose, tokens, cost, latency and outcome."""

    list_display = (
        "created_at",
        "user",
        "purpose",
        "model_name",
        "kind",
        "prompt_tokens",
        "completion_tokens",
        "cost",
        "latency_ms",
        "outcome",
    )
    list_filter = ("purpose", "kind", "outcome")
    search_fields = ("model_name", "user__username", "purpose")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    permission_read = MANAGE_PERM
