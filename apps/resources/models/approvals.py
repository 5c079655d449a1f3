"""Approvals for risky actions: someone asks (``requested``), someone else holding resources.manage decides
(``approved`` -> ``executing`` -> ``completed`` | ``failed``, or ``rejected``), and a completed action with a rollback
may be undone (``rolled_back``). The actions are registered in apps.resources.services.approvals."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import TimeStampedModel

from ..choices import ApprovalStatus


class ApprovalRequest(TimeStampedModel):
    action = models.CharField(max_length=64, db_index=True, verbose_name=_("action"))
    payload = models.JSONField(
        default=dict, blank=True, help_text=_("What to do, as validated for the action."), verbose_name=_("payload")
    )
    summary = models.CharField(max_length=300, blank=True, verbose_name=_("summary"))
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="approval_requests",
        verbose_name=_("requester"),
    )
    status = models.CharField(
        max_length=12,
        choices=ApprovalStatus.choices,
        default=ApprovalStatus.REQUESTED,
        db_index=True,
        verbose_name=_("status"),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decision_comment = models.TextField(blank=True, verbose_name=_("decision comment"))
    executed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("executed at"))
    result = models.JSONField(default=dict, blank=True, verbose_name=_("result"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    rolled_back_at = models.DateTimeField(null=True, blank=True, verbose_name=_("rolled back at"))

    class Meta(TimeStampedModel.Meta):
        ordering = ["-created_at", "-id"]
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} ({self.status})"
