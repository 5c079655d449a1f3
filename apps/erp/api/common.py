"""Shared API pieces of the ERP: report data made JSON/CSV friendly, the service-backed write mixin with
Idempotency-Key support, protection against deleting records still referenced by documents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.exceptions import Conflict
from apps.core.idempotency import IDEMPOTENCY_PARAMETER, IdempotentCreateMixin

__all__ = [
    "IDEMPOTENCY_PARAMETER",
    "ProtectedDestroyMixin",
    "ReportSerializer",
    "ServiceUpdateMixin",
    "ServiceWriteMixin",
]


def plain(value: Any) -> Any:
    """JSON/CSV-friendly copy of report data (Decimals and dates as strings)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class ReportSerializer(serializers.Serializer):
    title = serializers.CharField()
    parameters = serializers.DictField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.DictField())
    totals = serializers.DictField()


class ProtectedDestroyMixin:
    """Deleting a record that documents still reference answers 409 ``in_use`` instead of failing."""

    def destroy_object(self, instance: Any) -> None:
        try:
            with transaction.atomic():
                super().destroy_object(instance)  # type: ignore[misc]
        except ProtectedError:
            raise Conflict(
                gettext("%(record)s is used by other records; deactivate it instead.") % {"record": instance},
                code="in_use",
            ) from None


class ServiceWriteMixin(IdempotentCreateMixin):
    """Create/update through a write serializer and a service; answer with the read serializer. Creation (and the
    document-writing transitions, through ``run_idempotently``) accept an Idempotency-Key header (apps.core)."""

    write_serializer_class: type[serializers.Serializer]

    def _write(self, instance: Any = None, partial: bool = False) -> Any:
        serializer = self.write_serializer_class(
            instance=instance, data=self.request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return serializer

    def respond_with(self, instance: Any) -> Response:
        """The object as the list/detail endpoints show it, reloaded after an action changed it."""
        return Response(self.get_serializer(self.get_queryset().get(pk=instance.pk)).data)

    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        def handler() -> Response:
            serializer = self._write()
            with transaction.atomic():
                instance = self.create_object(serializer)
            return Response(self.get_serializer(instance).data, status=status.HTTP_201_CREATED)

        if not self.idempotent_create:
            return handler()
        return self.run_idempotently(request, handler)


class ServiceUpdateMixin(ServiceWriteMixin):
    """Adds service-backed update (PUT/PATCH) to ServiceWriteMixin."""

    def update(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        serializer = self._write(instance, partial=kwargs.get("partial", False))
        with transaction.atomic():
            instance = self.update_object(serializer)
        return Response(self.get_serializer(instance).data)
