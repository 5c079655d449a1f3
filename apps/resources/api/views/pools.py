"""Pools and reservations. Every signed-in user lists the pools and their availability and sees the reservations
held on their behalf; creating, changing and cancelling needs resources.manage (operators allocate the shared
compute, as with Slurm reservations; systems reserve through the service on their users' behalf)."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.permissions import ActionPermission, Authenticated
from apps.core.viewsets import AuditedWritesMixin, BaseModelViewSet, UserLanguageMixin

from ...filtersets import PoolReservationFilterSet, ResourcePoolFilterSet
from ...models import ResourcePool
from ...selectors.pools import pool_availability, pool_fair_share, reservations_visible_to
from ...services.pools import (
    clean_window,
    pool_save,
    reservation_cancel,
    reservation_create,
    reservation_preempt_request,
)
from ..serializers import approvals as sa
from ..serializers import pools as s

MANAGE = "resources.manage"


class SignedInReadsMixin:
    """Reads (safe methods) for every signed-in user; writes through ``required_permissions``."""

    request: Any

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method in SAFE_METHODS:
            return [Authenticated()]
        return [ActionPermission()]


class PoolViewSet(SignedInReadsMixin, BaseModelViewSet):
    """Shared compute pools (company-wide): read by every signed-in user, written with resources.manage."""

    queryset = ResourcePool.objects.order_by("name", "id")
    serializer_class = s.ResourcePoolSerializer
    filterset_class = ResourcePoolFilterSet
    required_permissions: ClassVar = {"write": MANAGE}
    search_fields = ["name", "description"]
    ordering_fields = ["name", "kind", "capacity", "created_at"]

    def create_object(self, serializer: Any, **extra: Any) -> Any:
        return pool_save(pool=ResourcePool(**serializer.validated_data), request=self.request)

    def update_object(self, serializer: Any) -> Any:
        pool = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(pool, name, value)
        return pool_save(pool=pool, request=self.request)

    def _window(self, request: Request) -> tuple[Any, Any]:
        query = s.WindowQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return clean_window(query.validated_data["start"], query.validated_data["end"])

    @extend_schema(parameters=[s.WindowQuerySerializer], responses=s.AvailabilitySerializer, filters=False)
    @action(detail=True, methods=["get"])
    def availability(self, request: Request, pk: str | None = None) -> Response:
        """The free-capacity timeline of the pool over ``[start, end)``."""
        pool = self.get_object()
        start, end = self._window(request)
        return Response(s.AvailabilitySerializer(pool_availability(pool=pool, start=start, end=end)).data)

    @extend_schema(parameters=[s.WindowQuerySerializer], responses=s.FairShareSerializer, filters=False)
    @action(detail=True, methods=["get"], url_path="fair-share")
    def fair_share(self, request: Request, pk: str | None = None) -> Response:
        """Each group's time-averaged booking against its fair share (capacity / active groups) over the window."""
        pool = self.get_object()
        start, end = self._window(request)
        return Response(s.FairShareSerializer(pool_fair_share(pool=pool, start=start, end=end)).data)


class ReservationViewSet(
    SignedInReadsMixin,
    UserLanguageMixin,
    AuditedWritesMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Reservations: one's own (all with resources.manage). Created (409 ``pool_overbooked`` when the window is full),
    cancelled and pre-empted (through an approval) with resources.manage."""

    serializer_class = s.PoolReservationSerializer
    filterset_class = PoolReservationFilterSet
    required_permissions: ClassVar = {"write": MANAGE}
    search_fields = ["purpose", "pool__name"]
    ordering_fields = ["starts_at", "ends_at", "amount", "priority", "created_at"]

    def get_queryset(self) -> Any:
        return reservations_visible_to(self.request.user)

    @extend_schema(request=s.ReservationCreateSerializer, responses={201: s.PoolReservationSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.ReservationCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        reservation = reservation_create(actor=request.user, **payload.validated_data)
        return Response(self.get_serializer(reservation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.PoolReservationSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Release an active reservation (409 when it is not active)."""
        reservation = reservation_cancel(reservation=self.get_object(), actor=request.user)
        return Response(self.get_serializer(reservation).data)

    @extend_schema(request=s.ReservationCreateSerializer, responses={201: sa.ApprovalRequestSerializer})
    @action(detail=False, methods=["post"])
    def preempt(self, request: Request) -> Response:
        """Ask, through an approval, for a booking that does not fit, pre-empting strictly lower priorities; 400
        ``no_preemption_needed`` when it fits, 409 ``pool_overbooked`` when even that would not make room."""
        payload = s.ReservationCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        approval = reservation_preempt_request(actor=request.user, **payload.validated_data)
        return Response(sa.ApprovalRequestSerializer(approval).data, status=status.HTTP_201_CREATED)
