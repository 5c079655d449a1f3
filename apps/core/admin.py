"""Security section of the back office: users, roles (groups), API keys, audit log; Unfold styling for the
scheduling (Celery beat / results) and token blacklist admins that come with their libraries."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdminMixin
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from .admin_base import AuditedAdminMixin, BaseModelAdmin, ReadOnlyModelAdmin, RolePermissionAdminMixin
from .choices import AuditAction
from .exceptions import ApplicationError
from .models import ApiKey, AuditLog, IdempotencyKey
from .services import api_key_create, api_key_revoke, api_key_validate, audit_model_change

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(AuditedAdminMixin, RolePermissionAdminMixin, DjangoUserAdmin, ModelAdmin):  # type: ignore[type-arg,misc]
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    permission_read = "core.audit"
    permission_write = "core.audit"
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            if user is not None:
                audit_model_change(
                    request=request, action=AuditAction.ACTION, instance=user, message="Password changed"
                )
        return response


@admin.register(Group)
class RoleAdmin(AuditedAdminMixin, RolePermissionAdminMixin, DjangoGroupAdmin, ModelAdmin):  # type: ignore[misc]
    permission_read = "core.audit"
    permission_write = "core.audit"


class ApiKeyAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """Runs the service's checks (scopes held by the owner, expiry in the future) so mistakes are form errors."""

    class Meta:
        model = ApiKey
        fields = ["name", "owner", "scopes", "expires_at"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        owner = cleaned.get("owner")
        if self.instance.pk is None and owner is not None:
            try:
                cleaned["scopes"] = api_key_validate(
                    owner=owner, scopes=cleaned.get("scopes") or [], expires_at=cleaned.get("expires_at")
                )
            except ApplicationError as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                for field, problems in details.items():
                    problems = problems if isinstance(problems, list) else [problems]
                    self.add_error(
                        field if field in self.fields else None, f"{exc.message} {', '.join(map(str, problems))}"
                    )
                if not details:
                    raise forms.ValidationError(exc.message) from exc
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(GuardedModelAdminMixin, BaseModelAdmin):
    form = ApiKeyAdminForm
    permission_read = "core.audit"
    permission_write = "core.audit"
    list_display = ["name", "prefix", "owner", "scopes", "expires_at", "last_used_at", "revoked_at", "created_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["name", "prefix", "owner__username"]
    readonly_fields = ["prefix", "last_used_at", "revoked_at", "created_at", "updated_at"]
    fields = ["name", "owner", "scopes", "expires_at", *readonly_fields]
    autocomplete_fields = ["owner"]
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is not None:  # a key's owner and scopes are fixed once issued
            return [*self.readonly_fields, "owner", "scopes"]
        return list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, secret = api_key_create(
            owner=obj.owner,
            name=obj.name,
            scopes=obj.scopes or (),
            expires_at=obj.expires_at,
            created_by=request.user,
            credential="session",
        )
        obj.pk = key.pk
        obj.prefix, obj.key_hash = key.prefix, key.key_hash
        messages.warning(
            request,
            gettext("API key created. Copy the secret now; it is not shown again: %(secret)s") % {"secret": secret},
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys are revoked, not deleted, so the audit trail keeps pointing at them

    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            api_key_revoke(key=key, actor=request.user, credential="session")
        count = queryset.count()
        messages.success(
            request, ngettext("Revoked %(count)d key.", "Revoked %(count)d keys.", count) % {"count": count}
        )


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyModelAdmin):
    permission_read = "core.audit"
    list_display = [
        "timestamp",
        "actor_username",
        "action",
        "outcome",
        "source",
        "target_type",
        "target_id",
        "ip_address",
        "request_id",
    ]
    list_filter = ["action", "outcome", "source", "target_type", "timestamp"]
    search_fields = ["actor_username", "target_repr", "target_id", "message", "path", "request_id"]
    date_hierarchy = "timestamp"
    list_select_related = ["actor", "api_key"]


def _restyle(model: type) -> None:
    """Re-register a library's ModelAdmin on the Unfold base, keeping its configuration."""
    original = admin.site._registry.get(model)
    if original is None:
        return
    admin.site.unregister(model)
    admin.site.register(model, type(f"Unfold{type(original).__name__}", (ModelAdmin, type(original)), {}))


def _restyle_library_admins() -> None:
    from axes import models as axes
    from django_celery_beat import models as beat
    from django_celery_results import models as results
    from rest_framework_simplejwt.token_blacklist import models as blacklist

    for model in (
        beat.PeriodicTask,
        beat.IntervalSchedule,
        beat.CrontabSchedule,
        beat.SolarSchedule,
        beat.ClockedSchedule,
        results.TaskResult,
        results.GroupResult,
        blacklist.OutstandingToken,
        blacklist.BlacklistedToken,
        axes.AccessAttempt,
        axes.AccessFailureLog,
        axes.AccessLog,
    ):
        _restyle(model)


_restyle_library_admins()


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyModelAdmin):
    permission_read = "core.audit"
    list_display = ["created_at", "user", "scope", "key", "response_status"]
    search_fields = ["key", "scope"]
    list_select_related = ["user"]
