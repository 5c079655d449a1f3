"""Back office of pools and reservations: pools with a bar of what is booked now, reservations read with a cancel
action. Writes go through the same services as the API, for resources.manage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apps.core.admin_base import BaseModelAdmin, ReadOnlyModelAdmin
from apps.core.exceptions import ApplicationError

from ..choices import ReservationStatus
from ..models import PoolReservation, ResourcePool
from ..services.pools import pool_save, reservation_cancel

MANAGE = "resources.manage"


@admin.register(ResourcePool)
class ResourcePoolAdmin(BaseModelAdmin):
    permission_read = permission_write = MANAGE
    list_display = ["name", "kind", "capacity", "unit", "booked_bar", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "description"]

    def get_queryset(self, request: HttpRequest) -> Any:
        now = timezone.now()
        held_now = Q(reservations__status=ReservationStatus.ACTIVE)
        held_now &= Q(reservations__starts_at__lte=now, reservations__ends_at__gt=now)
        return super().get_queryset(request).annotate(booked_now=Sum("reservations__amount", filter=held_now))

    @admin.display(description=_("Booked now"))
    def booked_bar(self, obj: ResourcePool) -> str:
        booked = getattr(obj, "booked_now", None) or Decimal(0)
        percent = min(100, int(booked * 100 / obj.capacity)) if obj.capacity else 0
        colour = "#dc2626" if percent >= 90 else "#f59e0b" if percent >= 70 else "#16a34a"
        return format_html(
            '<div style="width:120px;background:#e5e7eb;border-radius:3px" title="{} / {}">'
            '<div style="width:{}%;background:{};height:8px;border-radius:3px"></div></div>{} / {}',
            booked,
            obj.capacity,
            percent,
            colour,
            booked.normalize(),
            obj.capacity.normalize(),
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            pool_save(pool=obj, request=request)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(PoolReservation)
class PoolReservationAdmin(ReadOnlyModelAdmin):
    permission_read = MANAGE
    list_display = ["id", "pool", "user", "group", "amount", "starts_at", "ends_at", "priority", "status"]
    list_filter = ["status", "priority", "pool"]
    search_fields = ["purpose", "pool__name", "user__username"]
    list_select_related = ["pool", "user", "group"]
    actions = ["cancel_reservations"]

    @admin.action(description=_("Cancel the selected reservations"))
    def cancel_reservations(self, request: HttpRequest, queryset: Any) -> None:
        if not request.user.has_perm(MANAGE):
            self.message_user(request, gettext("Cancelling needs resources.manage."), messages.ERROR)
            return
        done = 0
        for reservation in queryset:
            try:
                reservation_cancel(reservation=reservation, actor=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{reservation.pk}: {exc.message}", messages.WARNING)
        self.message_user(
            request, ngettext("%(n)d reservation cancelled.", "%(n)d reservations cancelled.", done) % {"n": done}
        )
