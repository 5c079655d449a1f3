"""Serializers of approval requests."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import BaseModelSerializer

from ...models import ApprovalRequest


class ApprovalRequestSerializer(BaseModelSerializer[ApprovalRequest]):
    requester_username = serializers.CharField(source="requester.username", read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "action",
            "payload",
            "summary",
            "requester",
            "requester_username",
            "status",
            "decided_by",
            "decided_at",
            "decision_comment",
            "executed_at",
            "result",
            "error",
            "rolled_back_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ApprovalCreateSerializer(serializers.Serializer[Any]):
    action = serializers.CharField(max_length=64, help_text="A registered action: reservation.preempt, queue.purge ...")
    payload = serializers.DictField(help_text="What to do; validated by the action.")


class ApprovalDecisionSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
