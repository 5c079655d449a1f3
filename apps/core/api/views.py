from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.core import selectors, services
from apps.core.exceptions import ApplicationError, Conflict, ValidationFailed
from apps.core.filtersets import AuditLogFilterSet, UserFilterSet
from apps.core.models import ApiKey
from apps.core.permissions import ActionPermission, Authenticated, InteractiveLogin, ObjectAccess
from apps.core.roles import ROLE_DESCRIPTIONS, ROLES
from apps.core.viewsets import BaseAPIView, BaseModelViewSet, BaseReadOnlyViewSet, OwnedCreateListRetrieveViewSet

from .serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    AuditLogSerializer,
    LogoutSerializer,
    MeSerializer,
    RoleSerializer,
    UserSerializer,
)


class LockedOut(ApplicationError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"


class TokenObtainView(TokenObtainPairView):
    """Username + password -> access and refresh tokens. Repeated failures lock the username+address out."""

    permission_classes = [AllowAny]  # type: ignore[assignment]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except AuthenticationFailed:
            if getattr(request, "axes_locked_out", False):
                raise LockedOut(
                    gettext("Too many failed logins for this account from this address; try again later.")
                ) from None
            raise
        user = serializer.user  # type: ignore[attr-defined]
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


class TokenRefreshRotateView(TokenRefreshView):
    """Refresh token -> new access and refresh tokens; the old refresh token is blacklisted."""

    permission_classes = [AllowAny]  # type: ignore[assignment]


class LogoutView(BaseAPIView):
    """Blacklists the given refresh token so it can no longer be used."""

    permission_classes = [AllowAny]  # the refresh token itself is the credential
    serializer_class = LogoutSerializer

    @extend_schema(request=LogoutSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token = RefreshToken(serializer.validated_data["refresh"])
            token.blacklist()
        except TokenError as exc:
            raise ValidationFailed(str(exc), code="token_not_valid", details={"refresh": [str(exc)]}) from None
        user = get_user_model().objects.filter(pk=token.payload.get("user_id", 0)).first()
        user_logged_out.send(sender=type(user), request=request._request, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(BaseAPIView):
    """The caller: profile, roles and effective permissions (narrowed to an API key's scopes)."""

    permission_classes = [Authenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user, context={"request": request}).data)


class RoleListView(BaseAPIView):
    """The four roles and the permissions each grants."""

    permission_classes = [Authenticated]

    @extend_schema(responses=RoleSerializer(many=True))
    def get(self, request: Request) -> Response:
        data = [
            {"name": name, "description": ROLE_DESCRIPTIONS[name], "permissions": sorted(perms)}
            for name, perms in ROLES.items()
        ]
        return Response(RoleSerializer(data, many=True).data)


class ApiKeyViewSet(OwnedCreateListRetrieveViewSet):
    """Your API keys (every key for holders of core.audit). The secret is returned once, at creation. Managed only
    by a person signed in (JWT or session): a request made with an API key is refused, whatever its scopes."""

    queryset = ApiKey.objects.select_related("owner").order_by("-created_at", "-id")
    serializer_class = ApiKeySerializer
    permission_classes = [Authenticated, InteractiveLogin, ObjectAccess]
    manage_permission = "core.audit"
    filterset_fields = ["name", "prefix"]
    search_fields = ["name", "prefix"]
    ordering_fields = ["created_at", "last_used_at", "name"]

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, secret = services.api_key_create(
            owner=request.user,  # type: ignore[arg-type]  # Authenticated: never anonymous here
            created_by=request.user,
            credential=services.request_credential(request),
            **serializer.validated_data,
        )
        data = {**ApiKeySerializer(key).data, "key": secret}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        key = self.get_object()
        with transaction.atomic():
            services.api_key_revoke(key=key, actor=request.user, credential=services.request_credential(request))
        return Response(ApiKeySerializer(key).data)


class UserViewSet(BaseModelViewSet):
    """Users and their roles, for holders of core.audit signed in as a person (never with an API key). DELETE
    deactivates (the audit trail keeps the user)."""

    queryset = get_user_model().objects.prefetch_related("groups").order_by("username")
    serializer_class = UserSerializer
    permission_classes = [InteractiveLogin, ActionPermission]
    required_permissions = {"read": "core.audit", "write": "core.audit"}
    filterset_class = UserFilterSet
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering_fields = ["username", "date_joined", "last_login"]

    def create_object(self, serializer: Any, **extra: Any) -> Any:
        data = dict(serializer.validated_data)
        is_active = data.pop("is_active", True)  # user_create makes active users; an inactive one is then deactivated
        user = services.user_create(
            actor=self.request.user, roles=data.pop("roles", []), password=data.pop("password", None), **data
        )
        if not is_active:
            user = services.user_update(user=user, actor=self.request.user, is_active=False)
        return user

    def update_object(self, serializer: Any) -> Any:
        data = dict(serializer.validated_data)
        return services.user_update(
            user=serializer.instance,
            actor=self.request.user,
            roles=data.pop("roles", None),
            password=data.pop("password", None),
            **data,
        )

    def destroy_object(self, instance: Any) -> None:
        if instance.pk == self.request.user.pk:
            raise Conflict(gettext("You cannot deactivate yourself."), code="self_deactivation")
        services.user_update(user=instance, actor=self.request.user, is_active=False)


class AuditLogViewSet(BaseReadOnlyViewSet):
    """The audit log (read-only), for holders of core.audit."""

    queryset = selectors.audit_log_list()
    serializer_class = AuditLogSerializer
    required_permissions = {"read": "core.audit"}
    filterset_class = AuditLogFilterSet
    search_fields = ["actor_username", "target_repr", "message", "path"]
    ordering_fields = ["timestamp", "action", "actor_username"]


class ApiRootView(BaseAPIView):
    """Index of the API: one entry per system."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer("ApiRoot", {"systems": serializers.DictField(child=serializers.CharField())})
    )
    def get(self, request: Request) -> Response:
        links = {
            "auth.token": reverse("core-api:token", request=request),
            "auth.me": reverse("core-api:me", request=request),
            "core.api-keys": reverse("core-api:apikey-list", request=request),
            "core.audit": reverse("core-api:auditlog-list", request=request),
            "core.roles": reverse("core-api:roles", request=request),
            "core.users": reverse("core-api:user-list", request=request),
            "docs": reverse("api-docs", request=request),
            "schema": reverse("api-schema", request=request),
        }
        return Response({"systems": links})
