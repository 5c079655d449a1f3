"""Shared abstract bases plus the platform's own models: API keys, the audit log and user preferences."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .caching import VersionedManager
from .choices import AuditAction, AuditOutcome, AuditSource, JobStatus, Language
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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class OwnedModel(TimeStampedModel):
    """An object with an owner; sharing with other users and groups goes through django-guardian."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="%(app_label)s_%(class)s_owned",
        verbose_name=_("owner"),
    )

    class Meta(TimeStampedModel.Meta):
        abstract = True


class JobModel(OwnedModel):
    """Abstract base of every long job (backtests, sweeps, document ingestion, agent runs ...): its state, what it was
    asked to do (``config``), what it produced (``result``) or why it failed (``error``), its progress and heartbeat.

    State changes go through apps.core.jobs (``job_transition`` / ``jobs_transition``), which enforces the legal
    moves; every concrete subclass is swept by ``core.sweep_stuck_jobs``. Class attributes a subclass may set:

    * ``job_cancellable``: whether the API's cancel action may stop it;
    * ``job_stuck_minutes`` / ``job_pending_minutes``: limits of the sweep (default: JOB_STUCK_MINUTES and
      JOB_PENDING_MINUTES).
    """

    status = models.CharField(
        max_length=12, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True, verbose_name=_("status")
    )
    config = models.JSONField(
        default=dict, blank=True, help_text=_("What the job was asked to do."), verbose_name=_("config")
    )
    result = models.JSONField(
        default=dict, blank=True, help_text=_("What the job produced (a summary)."), verbose_name=_("result")
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Last sign of life of the worker (progress or heartbeat)."),
        verbose_name=_("heartbeat at"),
    )
    progress_percent = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], verbose_name=_("progress percent")
    )
    progress_message = models.CharField(max_length=200, blank=True, verbose_name=_("progress message"))

    job_cancellable: ClassVar[bool] = True
    job_stuck_minutes: ClassVar[int | None] = None
    job_pending_minutes: ClassVar[int | None] = None

    class Meta(OwnedModel.Meta):
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress_percent__lte=100), name="%(app_label)s_%(class)s_progress_percent"
            ),
        ]

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class CorePermission(PermissionHolder):
    """Holds the platform's role permissions (core.audit)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("core")
        verbose_name = _("core permission")
        verbose_name_plural = _("core permissions")


class ApiKey(TimeStampedModel):
    """A machine credential. Only the SHA-256 of the secret is stored; the secret is shown once at creation."""

    name = models.CharField(max_length=100, verbose_name=_("name"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("owner")
    )
    prefix = models.CharField(
        max_length=32,
        unique=True,
        editable=False,
        help_text=_("Public part, used for lookup."),
        verbose_name=_("prefix"),
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False, verbose_name=_("key hash"))
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Optional subset of the owner's permissions (e.g. ['chat.use']). Empty: all of the owner's."),
        verbose_name=_("scopes"),
    )
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last used at"))
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("revoked at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

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

    timestamp = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("timestamp"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_username = models.CharField(max_length=150, blank=True, verbose_name=_("actor username"))
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("api key")
    )
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True, verbose_name=_("action"))
    outcome = models.CharField(
        max_length=16, choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS, verbose_name=_("outcome")
    )
    source = models.CharField(
        max_length=16, choices=AuditSource.choices, default=AuditSource.SYSTEM, verbose_name=_("source")
    )
    target_type = models.CharField(
        max_length=100, blank=True, db_index=True, help_text=_("app_label.model"), verbose_name=_("target type")
    )
    target_id = models.CharField(max_length=64, blank=True, verbose_name=_("target id"))
    target_repr = models.CharField(max_length=200, blank=True, verbose_name=_("target repr"))
    changes = models.JSONField(
        default=dict, blank=True, help_text=_("field -> [old, new]; secrets masked"), verbose_name=_("changes")
    )
    message = models.TextField(blank=True, verbose_name=_("message"))
    ip_address = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("ip address"))
    user_agent = models.CharField(max_length=500, blank=True, verbose_name=_("user agent"))
    request_id = models.CharField(max_length=64, blank=True, verbose_name=_("request id"))
    method = models.CharField(max_length=10, blank=True, verbose_name=_("method"))
    path = models.CharField(max_length=500, blank=True, verbose_name=_("path"))

    class Meta:
        ordering = ["-timestamp", "-id"]
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["actor", "-timestamp"]),
        ]
        verbose_name = _("audit log")
        verbose_name_plural = _("audit logs")

    def __str__(self) -> str:
        who = self.actor_username or "anonymous"
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target_type}:{self.target_id}"


class IdempotencyKey(models.Model):
    """The first response to a POST carrying an ``Idempotency-Key`` header, replayed for repeats of the same request.

    ``scope`` names the endpoint (by default the request path, so each app and endpoint has its own keys), ``user``
    whose request it was, ``request_hash`` the fingerprint of the body: the same key with another body is refused.
    A row without ``response_status`` is a request still in progress. Written only through apps.core.idempotency."""

    scope = models.CharField(max_length=200, verbose_name=_("scope"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(max_length=128, verbose_name=_("key"))
    request_hash = models.CharField(max_length=64, verbose_name=_("request hash"))
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("response status"))
    response_body = models.JSONField(null=True, blank=True, verbose_name=_("response body"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("idempotency key")
        constraints = [models.UniqueConstraint(fields=["user", "scope", "key"], name="core_idempotency_unique")]
        verbose_name_plural = _("idempotency keys")

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


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
