"""Supporting records: document numbering, daily KPI snapshots and the dashboard entry (Idempotency-Keys are kept
by apps.core.idempotency)."""

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
