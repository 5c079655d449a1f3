"""Metered usage: daily aggregates (kept), per-period counters that quotas are enforced on, quota holds of work in
progress, and the threshold notices sent once per period."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..choices import HoldStatus, Meter, Period
from ..meters import QUANTITY_PLACES


class UsageDaily(models.Model):
    """What one user (through one API key, for one dimension such as the model name) used of one meter on one day
    (UTC). Written only by apps.resources.services.metering; ``user`` is empty for usage reported for a user who no
    longer exists (the cost was incurred, the row stays)."""

    day = models.DateField(verbose_name=_("day"))
    meter = models.CharField(max_length=32, choices=Meter.choices, verbose_name=_("meter"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resource_usage",
        verbose_name=_("user"),
    )
    api_key = models.ForeignKey(
        "core.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resource_usage",
        verbose_name=_("API key"),
    )
    dimension = models.CharField(max_length=200, blank=True, default="", verbose_name=_("dimension"))
    quantity = models.DecimalField(max_digits=24, decimal_places=QUANTITY_PLACES, default=0, verbose_name=_("quantity"))
    events = models.PositiveIntegerField(default=0, verbose_name=_("reports"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-day", "meter", "id"]
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "meter", "user", "api_key", "dimension"],
                name="resources_usage_unique_row",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            models.Index(fields=["user", "meter", "day"], name="resources_usage_user_meter"),
            models.Index(fields=["meter", "day"], name="resources_usage_meter_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.meter} {self.quantity}"


class QuotaCounter(models.Model):
    """One user's use of one meter in one period (``period_start``: the day, the first of the month, or 1970-01-01
    for a level), with what running work holds. Quotas are enforced on it with one conditional UPDATE."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_counters", verbose_name=_("user")
    )
    meter = models.CharField(max_length=32, choices=Meter.choices, verbose_name=_("meter"))
    period = models.CharField(max_length=8, choices=Period.choices, verbose_name=_("period"))
    period_start = models.DateField(verbose_name=_("period start"))
    used = models.DecimalField(max_digits=24, decimal_places=QUANTITY_PLACES, default=0, verbose_name=_("used"))
    reserved = models.DecimalField(max_digits=24, decimal_places=QUANTITY_PLACES, default=0, verbose_name=_("reserved"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-period_start", "meter", "id"]
        verbose_name = _("quota counter")
        verbose_name_plural = _("quota counters")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "meter", "period", "period_start"], name="resources_counter_unique"
            ),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="resources_counter_reserved_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.meter} {self.period} {self.period_start}"


class QuotaHold(models.Model):
    """Amounts reserved for work that has started (a completion, an ingestion, a run): settled with the actual amount
    when it ends, released when it fails; a hold left by a killed worker is released once ``expires_at`` passes.
    ``lines``: ``{"meter/period": {"amount": "12", "counters": [counter id]}}``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_holds", verbose_name=_("user")
    )
    api_key = models.ForeignKey(
        "core.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("API key")
    )
    purpose = models.CharField(max_length=64, blank=True, default="", verbose_name=_("purpose"))
    lines = models.JSONField(default=dict, verbose_name=_("amounts"))
    status = models.CharField(
        max_length=16, choices=HoldStatus.choices, default=HoldStatus.HELD, verbose_name=_("status")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("quota hold")
        verbose_name_plural = _("quota holds")
        indexes = [models.Index(fields=["status", "expires_at"], name="resources_hold_status_expiry")]

    def __str__(self) -> str:
        return f"{self.purpose or 'hold'} {self.status}"


class QuotaNotice(models.Model):
    """A user crossed a soft threshold (80 %) or the limit (100 %) of a meter in a period: written once per period."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_notices", verbose_name=_("user")
    )
    meter = models.CharField(max_length=32, choices=Meter.choices, verbose_name=_("meter"))
    period = models.CharField(max_length=8, choices=Period.choices, verbose_name=_("period"))
    period_start = models.DateField(verbose_name=_("period start"))
    threshold = models.PositiveSmallIntegerField(verbose_name=_("threshold (%)"))
    used = models.DecimalField(max_digits=24, decimal_places=QUANTITY_PLACES, verbose_name=_("used"))
    limit = models.DecimalField(max_digits=24, decimal_places=QUANTITY_PLACES, verbose_name=_("limit"))
    read = models.BooleanField(default=False, verbose_name=_("read"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("quota notice")
        verbose_name_plural = _("quota notices")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "meter", "period", "period_start", "threshold"], name="resources_notice_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter} {self.threshold}%"
