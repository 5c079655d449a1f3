"""Plans with limits per meter and period, their assignment to users and groups, and per-user overrides."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.caching import VersionedManager
from apps.core.models import TimeStampedModel

from ..choices import Meter, Period, PlanTier
from ..meters import MAX_QUANTITY, QUANTITY_PLACES, meter_spec

LIMIT_VALIDATORS = [MinValueValidator(0), MaxValueValidator(MAX_QUANTITY)]


def validate_meter_period(meter: str, period: str) -> None:
    """A counter is limited per day or month, a level (storage) at any time (``total``)."""
    if meter not in Meter.values:
        raise ValidationError({"meter": _("Unknown meter.")})
    spec = meter_spec(meter)
    if period not in spec.periods:
        raise ValidationError(
            {
                "period": _("%(meter)s can be limited over: %(periods)s.")
                % {"meter": meter, "periods": ", ".join(spec.periods)}
            }
        )


class Plan(TimeStampedModel):
    code = models.SlugField(max_length=50, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    tier = models.CharField(max_length=16, choices=PlanTier.choices, default=PlanTier.CUSTOM, verbose_name=_("tier"))
    description = models.TextField(blank=True, default="", verbose_name=_("description"))
    is_default = models.BooleanField(
        default=False,
        verbose_name=_("default plan"),
        help_text=_("Applies to every user without a plan of their own or of a group."),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))

    objects = VersionedManager()

    class Meta:
        ordering = ["code"]
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="resources_one_default_plan"
            )
        ]

    def __str__(self) -> str:
        return self.name


class PlanLimit(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="limits", verbose_name=_("plan"))
    meter = models.CharField(max_length=32, choices=Meter.choices, verbose_name=_("meter"))
    period = models.CharField(max_length=8, choices=Period.choices, verbose_name=_("period"))
    limit = models.DecimalField(
        max_digits=24, decimal_places=QUANTITY_PLACES, validators=LIMIT_VALIDATORS, verbose_name=_("limit")
    )

    objects = VersionedManager()

    class Meta:
        ordering = ["plan", "meter", "period"]
        verbose_name = _("plan limit")
        verbose_name_plural = _("plan limits")
        constraints = [
            models.UniqueConstraint(fields=["plan", "meter", "period"], name="resources_plan_limit_unique"),
            models.CheckConstraint(condition=Q(limit__gte=0), name="resources_plan_limit_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.meter}/{self.period} <= {self.limit}"

    def clean(self) -> None:
        validate_meter_period(self.meter, self.period)


class PlanAssignment(TimeStampedModel):
    """A plan for one user or for everyone in one group."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="assignments", verbose_name=_("plan"))
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="plan_assignment",
        verbose_name=_("user"),
    )
    group = models.OneToOneField(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="plan_assignment", verbose_name=_("group")
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned by"),
    )

    objects = VersionedManager()

    class Meta(TimeStampedModel.Meta):
        verbose_name = _("plan assignment")
        verbose_name_plural = _("plan assignments")
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="resources_assignment_user_xor_group",
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan} -> {self.user or self.group}"

    def clean(self) -> None:
        if bool(self.user_id) == bool(self.group_id):
            raise ValidationError(_("Assign the plan to a user or to a group, not both."))


class QuotaOverride(TimeStampedModel):
    """A limit for one user that wins over every plan (raising it above the user's plan needs an approval)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_overrides", verbose_name=_("user")
    )
    meter = models.CharField(max_length=32, choices=Meter.choices, verbose_name=_("meter"))
    period = models.CharField(max_length=8, choices=Period.choices, verbose_name=_("period"))
    limit = models.DecimalField(
        max_digits=24, decimal_places=QUANTITY_PLACES, validators=LIMIT_VALIDATORS, verbose_name=_("limit")
    )
    reason = models.CharField(max_length=500, blank=True, default="", verbose_name=_("reason"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    objects = VersionedManager()

    class Meta(TimeStampedModel.Meta):
        verbose_name = _("quota override")
        verbose_name_plural = _("quota overrides")
        constraints = [
            models.UniqueConstraint(fields=["user", "meter", "period"], name="resources_override_unique"),
            models.CheckConstraint(condition=Q(limit__gte=0), name="resources_override_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.meter}/{self.period} <= {self.limit}"

    def clean(self) -> None:
        validate_meter_period(self.meter, self.period)
