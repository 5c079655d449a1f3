"""Supporting records: document numbering, idempotency keys, daily KPI snapshots and the dashboard entry."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.caching import VersionedManager


class DocumentSequence(models.Model):
    """Next number per document prefix (SO, PO, INV ...); taken under a row lock."""

    prefix = models.CharField(max_length=10, unique=True)
    next_value = models.PositiveBigIntegerField(default=1)

    class Meta:
        ordering = ["prefix"]

    def __str__(self) -> str:
        return f"{self.prefix}: {self.next_value}"


class IdempotencyKey(models.Model):
    """The first response to a create request carrying an Idempotency-Key header, replayed for repeats."""

    key = models.CharField(max_length=128)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "endpoint", "key"], name="erp_idempotency_unique")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


class KpiSnapshot(models.Model):
    """Key figures of one day, written by the daily snapshot job."""

    date = models.DateField(unique=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    objects = VersionedManager()  # the dashboards read the snapshots through the read cache

    class Meta:
        ordering = ["-date"]
        verbose_name = "KPI snapshot"

    def __str__(self) -> str:
        return f"KPIs {self.date}"


class ErpDashboard(KpiSnapshot):
    """The admin's ERP dashboard (a proxy so it has its own sidebar entry)."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"
