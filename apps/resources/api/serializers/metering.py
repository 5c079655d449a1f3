"""Serializers of metering, plans and quotas: they validate and shape; services write."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.core.serializers import BaseModelSerializer, DecimalField

from ...choices import Meter, Period
from ...meters import MAX_QUANTITY, QUANTITY_PLACES
from ...models import Plan, PlanAssignment, PlanLimit, QuotaCounter, QuotaNotice, QuotaOverride, UsageDaily
from ...models.plans import validate_meter_period
from ...selectors.usage import GROUPINGS


def _limit_field(**kwargs: Any) -> DecimalField:
    return DecimalField(max_digits=24, decimal_places=QUANTITY_PLACES, min_value=0, max_value=MAX_QUANTITY, **kwargs)


class MeterSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    unit = serializers.CharField()
    level = serializers.BooleanField(help_text=_("A level (held at any time) rather than a counter per period."))
    periods = serializers.ListField(child=serializers.CharField())


class UsageSerializer(BaseModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True, default=None)
    quantity = DecimalField(max_digits=24, decimal_places=QUANTITY_PLACES, max_value=MAX_QUANTITY, read_only=True)

    class Meta:
        model = UsageDaily
        fields = ["id", "day", "meter", "user", "username", "api_key", "dimension", "quantity", "events"]
        read_only_fields: ClassVar = fields


class UsageSummaryQuerySerializer(serializers.Serializer):
    by = serializers.CharField(
        default="meter", help_text=_("Comma-separated: %(keys)s.") % {"keys": ", ".join(GROUPINGS)}
    )

    def validate_by(self, value: str) -> list[str]:
        keys = [key.strip() for key in value.split(",") if key.strip()]
        unknown = [key for key in keys if key not in GROUPINGS]
        if not keys or unknown or len(keys) > 3:
            raise serializers.ValidationError(_("Group by one to three of: %(keys)s.") % {"keys": ", ".join(GROUPINGS)})
        return keys


class UsageSummaryRowSerializer(serializers.Serializer):
    day = serializers.DateField(required=False)
    meter = serializers.CharField(required=False)
    user = serializers.CharField(required=False, allow_null=True)
    api_key = serializers.CharField(required=False, allow_null=True)
    group = serializers.CharField(required=False, allow_null=True)
    dimension = serializers.CharField(required=False)
    quantity = DecimalField(max_digits=30, decimal_places=QUANTITY_PLACES)
    reports = serializers.IntegerField()


class PlanLimitSerializer(BaseModelSerializer):
    limit = _limit_field()

    class Meta:
        model = PlanLimit
        fields = ["id", "plan", "meter", "period", "limit"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A counter is limited per day or month, a level over ``total`` (the model's rule, checked before saving)."""
        attrs = super().validate(attrs)
        meter = attrs.get("meter", getattr(self.instance, "meter", None))
        period = attrs.get("period", getattr(self.instance, "period", None))
        try:
            validate_meter_period(str(meter), str(period))
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class AwareDateTimeField(serializers.DateTimeField):
    """A date-time that names its offset (``Z``, ``+08:00``): a time without one is refused, not guessed."""

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and timezone.is_naive(parsed):
                raise serializers.ValidationError(_("A future, timezone-aware time."))
        return super().to_internal_value(value)


class PlanSerializer(BaseModelSerializer):
    limits = PlanLimitSerializer(many=True, read_only=True)

    class Meta:
        model = Plan
        fields = ["id", "code", "name", "tier", "description", "is_default", "active", "limits", "created_at"]
        read_only_fields: ClassVar = ["created_at"]


class PlanAssignmentSerializer(BaseModelSerializer):
    user = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all(), required=False, allow_null=True)
    group = serializers.PrimaryKeyRelatedField(queryset=Group.objects.all(), required=False, allow_null=True)

    class Meta:
        model = PlanAssignment
        fields = ["id", "plan", "user", "group", "assigned_by", "created_at"]
        read_only_fields: ClassVar = ["assigned_by", "created_at"]


class QuotaOverrideSerializer(BaseModelSerializer):
    limit = _limit_field()
    expires_at = AwareDateTimeField(required=False, allow_null=True)
    meter = serializers.ChoiceField(choices=Meter.choices)
    period = serializers.ChoiceField(choices=Period.choices)

    class Meta:
        model = QuotaOverride
        fields = ["id", "user", "meter", "period", "limit", "reason", "expires_at", "created_by", "created_at"]
        read_only_fields: ClassVar = ["created_by", "created_at"]
        validators: ClassVar[
            list[Any]
        ] = []  # (user, meter, period) is upserted by the service, not refused as a duplicate


class QuotaCounterSerializer(BaseModelSerializer):
    used = _limit_field(read_only=True)
    reserved = _limit_field(read_only=True)

    class Meta:
        model = QuotaCounter
        fields = ["id", "user", "meter", "period", "period_start", "used", "reserved", "updated_at"]
        read_only_fields: ClassVar = fields


class QuotaNoticeSerializer(BaseModelSerializer):
    used = _limit_field(read_only=True)
    limit = _limit_field(read_only=True)

    class Meta:
        model = QuotaNotice
        fields = ["id", "user", "meter", "period", "period_start", "threshold", "used", "limit", "read", "created_at"]
        read_only_fields: ClassVar = fields


class QuotaLineSerializer(serializers.Serializer):
    meter = serializers.CharField()
    period = serializers.CharField()
    limit = _limit_field()
    used = _limit_field()
    reserved = _limit_field()
    remaining = _limit_field()
    ratio = serializers.FloatField(help_text=_("used / limit"))
    source = serializers.CharField(  # type: ignore[assignment]  # a declared field, not Field.source
        help_text=_("override, user_plan, group_plan, default_plan or setting")
    )
    plan = serializers.CharField()
    resets_at = serializers.DateTimeField(allow_null=True)
    exhausted_on = serializers.DateField(
        allow_null=True, help_text=_("When the limit runs out at the current daily rate (null: not this period).")
    )


class QuotaStatusSerializer(serializers.Serializer):
    user = serializers.IntegerField()
    username = serializers.CharField()
    plan = serializers.CharField(allow_null=True)
    unread_notices = serializers.IntegerField()
    quotas = QuotaLineSerializer(many=True)


class CountersResetSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=Period.choices, help_text=_("day or month (a level is never reset)"))
    user = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all(), required=False, allow_null=True)
    meter = serializers.ChoiceField(choices=Meter.choices, required=False, allow_null=True)


class CountersResetResultSerializer(serializers.Serializer):
    reset = serializers.IntegerField(help_text=_("Counters reset"))
