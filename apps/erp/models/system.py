"""Supporting records: document numbering, idempotency keys, daily KPI snapshots and the dashboard entry."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.caching import VersionedManager


class DocumentSequence(models.Model):
    """Next number per document prefix (SO, PO, INV ...); taken under a row lock."""

    prefix = models.CharField(max_length=10, unique=True, verbose_name=_("prefix"))
    next_value = models.PositiveBigIntegerField(default=1, verbose_name=_("next value"))

    class Meta:
        ordering = ["prefix"]
        verbose_name = _("document sequence")
        verbose_name_plural = _("document sequences")

    def __str__(self) -> str:
        return f"{self.prefix}: {self.next_value}"


class IdempotencyKey(models.Model):
    """The first response to a create request carrying an Idempotency-Key header, replayed for repeats."""

    key = models.CharField(max_length=128, verbose_name=_("key"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    endpoint = models.CharField(max_length=200, verbose_name=_("endpoint"))
    request_hash = models.CharField(max_length=64, verbose_name=_("request hash"))
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("response status"))
    response_body = models.JSONField(null=True, blank=True, verbose_name=_("response body"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "endpoint", "key"], name="erp_idempotency_unique")]
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


class KpiSnapshot(models.Model):
    """Key figures of one day, written by the daily snapshot job."""

    date = models.DateField(unique=True, verbose_name=_("date"))
    data = models.JSONField(default=dict, verbose_name=_("data"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    objects = VersionedManager()  # the dashboards read the snapshots through the read cache

    class Meta:
        ordering = ["-date"]
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")

    def __str__(self) -> str:
        return f"KPIs {self.date}"


class ErpDashboard(KpiSnapshot):
    """The admin's ERP dashboard (a proxy so it has its own sidebar entry)."""

    class Meta:
        proxy = True
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboard")
