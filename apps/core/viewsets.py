"""Base viewsets: permissions per action, audit of every write, transactions around writes.

Apps set ``queryset``, ``serializer_class``, ``filterset_class`` and ``required_permissions``; write logic that is more
than a plain save goes to services, called from ``create_object`` / ``update_object`` / ``destroy_object`` or from
``@action`` methods (which call ``audit_action``).
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.db import models, transaction
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from . import caching
from .choices import AuditAction
from .i18n import activate_user_language
from .permissions import ActionPermission, ObjectAccess, objects_visible_to, request_has_perm
from .services import audit_model_change, model_snapshot


class UserLanguageMixin:
    """JWT and API-key callers are authenticated by DRF, after the middleware: their saved language is switched on
    here, once they are known and before permissions are checked (so refusals are in their language too). Without a
    saved language the request keeps LocaleMiddleware's choice (Accept-Language, else English)."""

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)  # type: ignore[misc]
        activate_user_language(request, request.user)


class BaseAPIView(UserLanguageMixin, APIView):
    """The base of the API's plain (non-model) views."""


class AuditedWritesMixin:
    """Writes run in a transaction. The default hooks save through the serializer and audit the change; a viewset
    whose writes go through a service overrides the hook and lets the service audit (services are the one write path
    shared by the API, the admin, commands and tasks)."""

    request: Any

    def create_object(self, serializer: BaseSerializer[Any], **extra: Any) -> models.Model:
        instance: models.Model = serializer.save(**extra)
        audit_model_change(request=self.request, action=AuditAction.CREATE, instance=instance)
        return instance

    def update_object(self, serializer: BaseSerializer[Any]) -> models.Model:
        before = model_snapshot(serializer.instance)
        instance: models.Model = serializer.save()
        audit_model_change(request=self.request, action=AuditAction.UPDATE, instance=instance, before=before)
        return instance

    def destroy_object(self, instance: Any) -> None:
        before, pk = model_snapshot(instance), instance.pk
        instance.delete()
        instance.pk = pk  # keep the id on the audit entry
        audit_model_change(request=self.request, action=AuditAction.DELETE, instance=instance, before=before)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        with transaction.atomic():
            serializer.instance = self.create_object(serializer)  # the response shows what the service made

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        with transaction.atomic():
            serializer.instance = self.update_object(serializer)

    def perform_destroy(self, instance: Any) -> None:
        with transaction.atomic():
            self.destroy_object(instance)

    def audit_action(self, instance: models.Model, *, message: str, before: dict[str, Any] | None = None) -> None:
        """Audit a custom action (confirm, revoke, ...) on ``instance``."""
        audit_model_change(
            request=self.request, action=AuditAction.ACTION, instance=instance, before=before, message=message
        )


def cached_json_response(
    view: Any, request: Request, *, key: str, namespaces: list[str], handler: Any
) -> tuple[HttpResponseBase, bool]:
    """``handler()``'s response, rendered to JSON and cached at ``key`` until one of ``namespaces`` changes (see
    ``apps.core.caching``); returns the response and whether it came from the cache. Only 200 responses are cached
    and only for the JSON renderer (the browsable API is rendered fresh). The cached body carries its ETag, so a client
    revalidating with If-None-Match gets a 304 without a body (ConditionalGetMiddleware)."""
    renderer = request.accepted_renderer
    if renderer.format != "json":
        return handler(), False
    response: Response | None = None

    def compute() -> tuple[str | bytes, str]:
        nonlocal response
        response = handler()
        if response.status_code != 200:
            raise _NotCacheable
        body = renderer.render(response.data, request.accepted_media_type, view.get_renderer_context())
        raw = body.encode() if isinstance(body, str) else body
        return body, f'"{hashlib.sha256(raw).hexdigest()[:32]}"'

    try:
        body, etag = caching.cached(key, namespaces, compute)
    except _NotCacheable:
        assert response is not None
        return response, False
    cached = HttpResponse(body, content_type=request.accepted_media_type)
    cached["ETag"] = etag
    return cached, response is None


class CachedReadMixin:
    """Caches the rendered JSON of ``list`` and ``retrieve`` until a model in ``cache_models`` changes
    (``cached_json_response``). Authentication, permission checks and throttling still run on every request; only
    the queries, serialization and rendering are skipped. The key is the full URL (query string included) and, for
    views whose results depend on the caller (``cache_per_user``), the user."""

    cache_models: ClassVar[tuple[type[models.Model], ...]] = ()
    cache_per_user: ClassVar[bool] = False
    request: Any

    def _cached_read(self, handler: Any, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not self.cache_models:
            return handler(request, *args, **kwargs)  # type: ignore[no-any-return]
        scope = f"u{request.user.pk}" if self.cache_per_user else "all"
        url = hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()[:32]
        response, _ = cached_json_response(
            self,
            request,
            key=f"read:{type(self).__module__}.{type(self).__name__}:{scope}:{url}",
            namespaces=[caching.model_namespace(m) for m in self.cache_models],
            handler=lambda: handler(request, *args, **kwargs),
        )
        return response

    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return self._cached_read(super().list, request, *args, **kwargs)  # type: ignore[misc]

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return self._cached_read(super().retrieve, request, *args, **kwargs)  # type: ignore[misc]


class _NotCacheable(Exception):
    pass


class BaseModelViewSet(UserLanguageMixin, AuditedWritesMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    permission_classes = [ActionPermission]
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {}


class BaseReadOnlyViewSet(UserLanguageMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    permission_classes = [ActionPermission]
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {}


class OwnedObjectsMixin:
    """For owned objects: the list is narrowed in SQL to what the caller may see (own, granted through guardian, or
    everything with ``manage_permission``); object actions check the same; new objects belong to the caller."""

    request: Any
    manage_permission: ClassVar[str | None] = None
    owner_field: ClassVar[str] = "owner"

    def get_queryset(self) -> Any:
        queryset = super().get_queryset()  # type: ignore[misc]
        if self.manage_permission and request_has_perm(self.request, self.manage_permission):
            return queryset
        return objects_visible_to(self.request.user, queryset, owner_field=self.owner_field)

    def create_object(self, serializer: BaseSerializer[Any], **extra: Any) -> models.Model:
        instance: models.Model = super().create_object(  # type: ignore[misc]
            serializer, **{self.owner_field: self.request.user, **extra}
        )
        return instance


class OwnedModelViewSet(OwnedObjectsMixin, BaseModelViewSet):
    permission_classes = [ActionPermission, ObjectAccess]


class OwnedCreateListRetrieveViewSet(
    UserLanguageMixin,
    OwnedObjectsMixin,
    AuditedWritesMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    """Owned objects that are created and then only changed through actions (never edited or deleted)."""

    permission_classes = [ActionPermission, ObjectAccess]
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {}
