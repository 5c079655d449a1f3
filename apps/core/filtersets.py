"""The base FilterSet: every list gets ``q`` (a case-insensitive search over ``Meta.q_fields``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from .models import AuditLog


class UTCIsoDateTimeField(IsoDateTimeField):  # type: ignore[misc]
    """ISO 8601 with any offset Python accepts, handed to the database in UTC (PostgreSQL refuses offsets past
    about 16 hours); a value that cannot be expressed in UTC is a 400, like any other unreadable date."""

    def to_python(self, value: Any) -> dt.datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            utc: dt.datetime = parsed.astimezone(dt.UTC)
        except OverflowError as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc
        return utc


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):  # type: ignore[misc]
    """The filter for every date-time query parameter (``since``, ``until``, ``start``, ``end``)."""

    field_class = UTCIsoDateTimeField


class BaseFilterSet(django_filters.FilterSet):  # type: ignore[misc]
    q = django_filters.CharFilter(method="filter_q", label=_("Search"))

    q_fields: tuple[str, ...] = ()

    def filter_q(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if not value or not self.q_fields:
            return queryset
        condition = Q()
        for field in self.q_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)


class AuditLogFilterSet(BaseFilterSet):
    actor_id = django_filters.NumberFilter(field_name="actor_id")
    api_key_id = django_filters.NumberFilter(field_name="api_key_id")
    since = UTCIsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = UTCIsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    q_fields = ("actor_username", "target_repr", "message", "path")

    class Meta:
        model = AuditLog
        fields = ["actor_id", "api_key_id", "action", "outcome", "source", "target_type", "target_id", "request_id"]


class UserFilterSet(BaseFilterSet):
    role = django_filters.CharFilter(field_name="groups__name", label=_("Role"))

    q_fields = ("username", "email", "first_name", "last_name")

    class Meta:
        model = get_user_model()
        fields = ["is_active", "is_staff", "role"]
