"""Serializers of pools and reservations: shapes and input validation only (the services book)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework import serializers

from apps.core.serializers import BaseModelSerializer, DecimalField

from ...choices import Priority
from ...models import PoolReservation, ResourcePool
from ...models.pools import CAPACITY_MAX


class ResourcePoolSerializer(BaseModelSerializer[ResourcePool]):
    class Meta:
        model = ResourcePool
        fields = [
            "id",
            "name",
            "kind",
            "capacity",
            "unit",
            "gpu_memory_gb",
            "queue_name",
            "description",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class PoolReservationSerializer(BaseModelSerializer[PoolReservation]):
    pool_name = serializers.CharField(source="pool.name", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    group_name = serializers.CharField(source="group.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = PoolReservation
        fields = [
            "id",
            "pool",
            "pool_name",
            "user",
            "username",
            "group",
            "group_name",
            "amount",
            "starts_at",
            "ends_at",
            "priority",
            "purpose",
            "status",
            "preempted_by",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReservationCreateSerializer(serializers.Serializer[Any]):
    """A booking: ``amount`` of ``pool_id`` for ``user_id`` over ``[starts_at, ends_at)`` (aware date-times)."""

    pool_id = serializers.PrimaryKeyRelatedField(queryset=ResourcePool.objects.all(), source="pool")
    user_id = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all(), source="user")
    group_id = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), source="group", required=False, allow_null=True, default=None
    )
    amount = DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0.001"), max_value=CAPACITY_MAX)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.MEDIUM)
    purpose = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WindowQuerySerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField(help_text="Start of the window (ISO 8601 with a zone), included.")
    end = serializers.DateTimeField(help_text="End of the window, excluded (at most 366 days after start).")


class TimelineSegmentSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    booked = DecimalField(max_digits=12, decimal_places=3)
    free = DecimalField(max_digits=12, decimal_places=3)


class AvailabilitySerializer(serializers.Serializer[Any]):
    pool = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    capacity = DecimalField(max_digits=12, decimal_places=3)
    peak_booked = DecimalField(max_digits=12, decimal_places=3)
    min_free = DecimalField(max_digits=12, decimal_places=3)
    timeline = TimelineSegmentSerializer(many=True)


class FairShareGroupSerializer(serializers.Serializer[Any]):
    group = serializers.IntegerField(allow_null=True, help_text="The group id; null for bookings without a group.")
    group_name = serializers.CharField()
    booked = DecimalField(max_digits=12, decimal_places=3, help_text="Time-averaged amount booked in the window.")
    fair_share = DecimalField(max_digits=12, decimal_places=3, help_text="capacity / number of active groups")
    ratio = DecimalField(max_digits=12, decimal_places=3, help_text="booked / fair_share")
    over_fair_share = serializers.BooleanField()


class FairShareSerializer(serializers.Serializer[Any]):
    pool = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    capacity = DecimalField(max_digits=12, decimal_places=3)
    active_groups = serializers.IntegerField()
    fair_share = DecimalField(max_digits=12, decimal_places=3)
    groups = FairShareGroupSerializer(many=True)
