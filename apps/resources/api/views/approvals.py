"""Approval requests. Any signed-in user may ask (each action says who may: most need resources.manage) and sees
their own requests; holders of resources.manage see all and decide those of others (never their own). The rules
live in apps.resources.services.approvals: the endpoint is open to signed-in users and the service answers 403."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.permissions import Authenticated, ObjectAccess
from apps.core.viewsets import OwnedCreateListRetrieveViewSet

from ...filtersets import ApprovalRequestFilterSet
from ...models import ApprovalRequest
from ...services.approvals import approval_approve, approval_reject, approval_request, approval_rollback
from ..serializers import approvals as s

MANAGE = "resources.manage"


class ApprovalRequestViewSet(OwnedCreateListRetrieveViewSet):
    queryset = ApprovalRequest.objects.select_related("requester").order_by("-created_at", "-id")
    serializer_class = s.ApprovalRequestSerializer
    filterset_class = ApprovalRequestFilterSet
    manage_permission = MANAGE
    owner_field = "requester"
    search_fields = ["summary", "action"]
    ordering_fields = ["created_at", "status", "action"]
    required_permissions: ClassVar = {}

    def get_permissions(self) -> list[BasePermission]:
        return [Authenticated(), ObjectAccess()]

    @extend_schema(request=s.ApprovalCreateSerializer, responses={201: s.ApprovalRequestSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.ApprovalCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        approval = approval_request(requester=request.user, **payload.validated_data)
        return Response(self.get_serializer(approval).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ApprovalDecisionSerializer, responses=s.ApprovalRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve and execute at once (resources.manage, not one's own request): the answer is the approval,
        ``completed`` with its result or ``failed`` with the error; 409 unless it is ``requested``."""
        decision = s.ApprovalDecisionSerializer(data=request.data)
        decision.is_valid(raise_exception=True)
        approval = approval_approve(approval=self.get_object(), actor=request.user, **decision.validated_data)
        return Response(self.get_serializer(approval).data)

    @extend_schema(request=s.ApprovalDecisionSerializer, responses=s.ApprovalRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Refuse the request (resources.manage, not one's own); 409 unless it is ``requested``."""
        decision = s.ApprovalDecisionSerializer(data=request.data)
        decision.is_valid(raise_exception=True)
        approval = approval_reject(approval=self.get_object(), actor=request.user, **decision.validated_data)
        return Response(self.get_serializer(approval).data)

    @extend_schema(request=None, responses=s.ApprovalRequestSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: str | None = None) -> Response:
        """Undo a completed action that can be undone (resources.manage); 409 otherwise."""
        approval = approval_rollback(approval=self.get_object(), actor=request.user)
        return Response(self.get_serializer(approval).data)
