"""Shared compute pools (host CPU cores, GPUs, worker-queue slots) and the reservations booked on them.

A reservation holds ``amount`` of a pool's capacity from ``starts_at`` (included) to ``ends_at`` (excluded): two
windows that only touch do not overlap. Only ACTIVE reservations count against the capacity; booking goes through
apps.resources.services.pools, which refuses to overbook (peak concurrent load, not the sum)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from apps.core.models import TimeStampedModel

from ..choices import PoolKind, Priority, ReservationStatus

CAPACITY_MAX = Decimal("1000000")
CAPACITY_MIN = Decimal("0.001")
AMOUNT_DIGITS, AMOUNT_PLACES = 12, 3


class ResourcePool(TimeStampedModel):
    """A pool of shared capacity: the CPU cores of a set of hosts, GPUs, or the worker slots of one Celery queue."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    kind = models.CharField(max_length=8, choices=PoolKind.choices, verbose_name=_("kind"))
    capacity = models.DecimalField(
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        validators=[MinValueValidator(CAPACITY_MIN), MaxValueValidator(CAPACITY_MAX)],
        help_text=_("How much of the unit the pool holds at any moment."),
        verbose_name=_("capacity"),
    )
    unit = models.CharField(max_length=32, blank=True, help_text=_("cores, GPUs, slots ..."), verbose_name=_("unit"))
    gpu_memory_gb = models.DecimalField(
        max_digits=8,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("100000"))],
        help_text=_("GPU pools: memory of one GPU."),
        verbose_name=_("GPU memory (GB)"),
    )
    queue_name = models.CharField(
        max_length=64, blank=True, help_text=_("Queue pools: the Celery queue."), verbose_name=_("queue name")
    )
    description = models.TextField(blank=True, verbose_name=_("description"))
    active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta(TimeStampedModel.Meta):
        ordering = ["name", "id"]
        verbose_name = _("resource pool")
        verbose_name_plural = _("resource pools")
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity__gt=0) & Q(capacity__lte=CAPACITY_MAX), name="resources_pool_capacity_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.capacity} {self.unit})".strip()

    def clean(self) -> None:
        super().clean()
        errors: dict[str, Any] = {}
        if self.kind != PoolKind.GPU and self.gpu_memory_gb is not None:
            errors["gpu_memory_gb"] = _("Only GPU pools have a GPU memory.")
        if self.kind == PoolKind.QUEUE:
            known = list(getattr(settings, "CELERY_TASK_QUEUES_NAMES", []))
            if self.queue_name not in known:
                errors["queue_name"] = _("A queue pool names one of the known queues: %(queues)s.") % {
                    "queues": ", ".join(known)
                }
        elif self.queue_name:
            errors["queue_name"] = _("Only queue pools name a queue.")
        if errors:
            raise ValidationError(errors)


class PoolReservation(TimeStampedModel):
    """``amount`` of a pool held for ``user`` (and their ``group``, for the fair-share view) over a window."""

    pool = models.ForeignKey(
        ResourcePool, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("pool")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="pool_reservations",
        help_text=_("On whose behalf the capacity is held."),
        verbose_name=_("user"),
    )
    group = models.ForeignKey(
        "auth.Group",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pool_reservations",
        help_text=_("The group the booking counts for in the fair-share view (default: the user's first group)."),
        verbose_name=_("group"),
    )
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, verbose_name=_("amount"))
    starts_at = models.DateTimeField(verbose_name=_("starts at"))
    ends_at = models.DateTimeField(verbose_name=_("ends at"))
    priority = models.CharField(
        max_length=12, choices=Priority.choices, default=Priority.MEDIUM, verbose_name=_("priority")
    )
    purpose = models.CharField(max_length=200, blank=True, verbose_name=_("purpose"))
    status = models.CharField(
        max_length=12,
        choices=ReservationStatus.choices,
        default=ReservationStatus.ACTIVE,
        db_index=True,
        verbose_name=_("status"),
    )
    preempted_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="preempted",
        verbose_name=_("pre-empted by"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta(TimeStampedModel.Meta):
        ordering = ["starts_at", "id"]
        verbose_name = _("pool reservation")
        verbose_name_plural = _("pool reservations")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="resources_reservation_amount_positive"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="resources_reservation_window"),
        ]
        indexes = [
            models.Index(fields=["pool", "status", "starts_at", "ends_at"], name="resources_resv_pool_window"),
            models.Index(fields=["user", "status"], name="resources_resv_user_status"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of {self.pool_id} {self.starts_at:%Y-%m-%d %H:%M}-{self.ends_at:%Y-%m-%d %H:%M}"
