"""The base ModelAdmin every app uses: Unfold look, role permissions, and an audit entry for every write."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from unfold.admin import ModelAdmin, TabularInline

from .choices import AuditAction
from .services import audit_model_change, model_snapshot


class AuditedAdminMixin:
    """Audits admin saves and deletes (single and bulk) with old/new values."""

    # ``obj`` is Any so that an app's admin may name its own model (Django's ModelAdmin types it by its model).
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = model_snapshot(type(obj)._default_manager.filter(pk=obj.pk).first()) if change and obj.pk else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            audit_model_change(
                request=request,
                action=AuditAction.UPDATE if change else AuditAction.CREATE,
                instance=obj,
                before=before,
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        before, pk = model_snapshot(obj), obj.pk
        with transaction.atomic():
            super().delete_model(request, obj)  # type: ignore[misc]
            obj.pk = pk
            audit_model_change(request=request, action=AuditAction.DELETE, instance=obj, before=before)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


class RolePermissionAdminMixin:
    """Maps the admin's view/add/change/delete permissions onto the suite's role permissions.

    Set ``permission_read`` (e.g. "erp.read") and ``permission_write`` (e.g. "erp.write"); left unset, Django's
    per-model permissions apply."""

    permission_read: str | None = None
    permission_write: str | None = None

    def _has(self, request: HttpRequest, perm: str | None, fallback: bool) -> bool:
        if perm is None:
            return fallback
        return bool(request.user.is_active and request.user.has_perm(perm))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        fallback = super().has_view_permission(request, obj)  # type: ignore[misc]
        return self._has(request, self.permission_read, fallback) or self.has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._has(request, self.permission_write, super().has_add_permission(request, *args))  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has(request, self.permission_write, super().has_change_permission(request, obj))  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has(request, self.permission_write, super().has_delete_permission(request, obj))  # type: ignore[misc]

    def has_module_permission(self, request: HttpRequest) -> bool:
        if self.permission_read is None and self.permission_write is None:
            return bool(super().has_module_permission(request))  # type: ignore[misc]
        return self.has_view_permission(request)


class OwnedObjectsAdminMixin:
    """Lists and pages of owned objects show only what the user may see, as the API does (``objects_visible_to``):
    their own, those shared with them or their groups through guardian, or everything with ``manage_permission``.
    Objects of others open as "not found". Override ``visible_queryset`` for another rule."""

    owner_field: str = "owner"
    manage_permission: str | None = None

    def visible_queryset(self, request: HttpRequest, queryset: Any) -> Any:
        from .permissions import objects_visible_to

        return objects_visible_to(
            request.user, queryset, manage_perm=self.manage_permission, owner_field=self.owner_field
        )

    def get_queryset(self, request: HttpRequest) -> Any:
        return self.visible_queryset(request, super().get_queryset(request))  # type: ignore[misc]


class BaseModelAdmin(AuditedAdminMixin, RolePermissionAdminMixin, ModelAdmin):  # type: ignore[misc]
    """Inherit this in every app's admin.py."""

    list_per_page = 50
    show_full_result_count = False


class ReadOnlyAdminMixin(RolePermissionAdminMixin):
    """No add, change or delete, even for superusers; viewing needs ``permission_read`` (or Django's view
    permission when it is unset)."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Django's own view permission (past RolePermissionAdminMixin's "or may change": nothing changes here)
        django_view = super(RolePermissionAdminMixin, self).has_view_permission(request, obj)  # type: ignore[misc]
        return self._has(request, self.permission_read, django_view)


class ReadOnlyModelAdmin(ReadOnlyAdminMixin, ModelAdmin):  # type: ignore[misc]
    """For records nobody edits by hand (ledgers, logs)."""


class BaseTabularInline(RolePermissionAdminMixin, TabularInline):  # type: ignore[misc]
    """Inline rows on a document: the role permissions of the inline, or else of its parent's admin (so an order's
    lines are visible to whoever may read the order, not only to superusers holding Django's per-model
    permissions)."""

    extra = 0

    def __init__(self, parent_model: type[models.Model], admin_site: Any) -> None:
        super().__init__(parent_model, admin_site)
        parent = admin_site._registry.get(parent_model)
        if self.permission_read is None:
            self.permission_read = getattr(parent, "permission_read", None)
        if self.permission_write is None:
            self.permission_write = getattr(parent, "permission_write", None)


class ReadOnlyTabularInline(ReadOnlyAdminMixin, BaseTabularInline):
    """Rows shown, never added, changed or deleted here (ledger lines, trades, messages)."""

    can_delete = False
