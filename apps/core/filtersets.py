"""The base FilterSet: every list gets ``q`` (a case-insensitive search over ``Meta.q_fields``)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from .models import AuditLog


class BaseFilterSet(django_filters.FilterSet):  # type: ignore[misc]
    q = django_filters.CharFilter(method="filter_q", label="Search")

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
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    q_fields = ("actor_username", "target_repr", "message", "path")

    class Meta:
        model = AuditLog
        fields = ["actor_id", "api_key_id", "action", "outcome", "source", "target_type", "target_id", "request_id"]


class UserFilterSet(BaseFilterSet):
    role = django_filters.CharFilter(field_name="groups__name", label="Role")

    q_fields = ("username", "email", "first_name", "last_name")

    class Meta:
        model = get_user_model()
        fields = ["is_active", "is_staff", "role"]
