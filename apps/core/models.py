"""Shared abstract bases plus the platform's own models: API keys, the audit log and user preferences."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .caching import VersionedManager
from .choices import AuditAction, AuditOutcome, AuditSource, Language
from .roles import app_permissions


class PermissionHolder(models.Model):
    """Abstract base for the table-less model each app uses to own its role permissions."""

    class Meta:
        abstract = True
        managed = False
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self._meta.app_label} permissions"


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class OwnedModel(TimeStampedModel):
    """An object with an owner; sharing with other users and groups goes through django-guardian."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="%(app_label)s_%(class)s_owned"
    )

    class Meta(TimeStampedModel.Meta):
        abstract = True


class CorePermission(PermissionHolder):
    """Holds the platform's role permissions (core.audit)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("core")


class ApiKey(TimeStampedModel):
    """A machine credential. Only the SHA-256 of the secret is stored; the secret is shown once at creation."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=32, unique=True, editable=False, help_text="Public part, used for lookup.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="Optional subset of the owner's permissions (e.g. ['chat.use']). Empty: all of the owner's.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired


class AuditLog(models.Model):
    """One immutable record per security-relevant event. Written only through apps.core.services.audit_record."""

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    outcome = models.CharField(max_length=16, choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS)
    source = models.CharField(max_length=16, choices=AuditSource.choices, default=AuditSource.SYSTEM)
    target_type = models.CharField(max_length=100, blank=True, db_index=True, help_text="app_label.model")
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="field -> [old, new]; secrets masked")
    message = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["actor", "-timestamp"]),
        ]

    def __str__(self) -> str:
        who = self.actor_username or "anonymous"
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target_type}:{self.target_id}"


class UserPreference(TimeStampedModel):
    """A user's own settings. ``language`` blank: follow the browser's Accept-Language (English by default)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference", verbose_name=_("user")
    )
    language = models.CharField(
        _("language"),
        max_length=16,
        choices=Language.choices,
        blank=True,
        help_text=_("Blank: follow the browser's language (Accept-Language), English by default."),
    )

    objects = VersionedManager()

    class Meta:
        ordering = ["user_id"]
        verbose_name = _("user preference")
        verbose_name_plural = _("user preferences")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.language or '-'}"
