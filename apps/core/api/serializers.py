from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core import selectors
from apps.core.models import ApiKey, AuditLog
from apps.core.roles import PERMISSIONS, ROLES
from apps.core.serializers import BaseModelSerializer


class StrictSerializerMixin:
    """Rejects fields the serializer does not know (a typo must not be silently ignored)."""

    initial_data: Any
    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [gettext("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)  # type: ignore[misc]


class ApiKeySerializer(BaseModelSerializer):  # type: ignore[type-arg]
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_active = serializers.BooleanField(source="is_usable", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "owner",
            "prefix",
            "scopes",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "is_active",
            "created_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(StrictSerializerMixin, serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(PERMISSIONS)), required=False, default=list
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text=_("The secret. Shown only in this response."))

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class AuditLogSerializer(BaseModelSerializer):  # type: ignore[type-arg]
    actor = serializers.CharField(source="actor_username", read_only=True)
    api_key = serializers.CharField(source="api_key.prefix", read_only=True, default=None, allow_null=True)

    class Meta:
        model = AuditLog
        fields = [
            "id",
            "timestamp",
            "actor",
            "actor_id",
            "api_key",
            "action",
            "outcome",
            "source",
            "target_type",
            "target_id",
            "target_repr",
            "changes",
            "message",
            "ip_address",
            "user_agent",
            "request_id",
            "method",
            "path",
        ]
        read_only_fields = fields


class MeSerializer(BaseModelSerializer):  # type: ignore[type-arg]
    """The user of context["request"], with roles and effective permissions (narrowed to an API key's scopes)."""

    roles = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField()
    auth = serializers.SerializerMethodField(help_text=_("jwt, api_key or session"))
    api_key = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_staff",
            "is_superuser",
            "last_login",
            "roles",
            "permissions",
            "auth",
            "api_key",
        ]
        read_only_fields = fields

    def _key(self) -> ApiKey | None:
        auth = self.context["request"].auth
        return auth if isinstance(auth, ApiKey) else None

    def get_roles(self, user: Any) -> list[str]:
        return selectors.user_roles(user=user)

    def get_permissions(self, user: Any) -> list[str]:
        return selectors.user_effective_permissions(user=user, api_key=self._key())

    def get_auth(self, user: Any) -> str:
        if self._key() is not None:
            return "api_key"
        return "jwt" if self.context["request"].auth is not None else "session"

    @extend_schema_field(ApiKeySerializer(allow_null=True))
    def get_api_key(self, user: Any) -> dict[str, Any] | None:
        key = self._key()
        return dict(ApiKeySerializer(key).data) if key is not None else None


class LogoutSerializer(StrictSerializerMixin, serializers.Serializer):  # type: ignore[type-arg]
    refresh = serializers.CharField()


class RoleSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    description = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())


class UserSerializer(StrictSerializerMixin, BaseModelSerializer):  # type: ignore[type-arg]
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(ROLES)), required=False, help_text=_("Role names (groups).")
    )
    password = serializers.CharField(
        write_only=True, required=False, style={"input_type": "password"}, trim_whitespace=False
    )

    class Meta:
        model = get_user_model()
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "is_staff",
            "is_superuser",
            "last_login",
            "date_joined",
            "roles",
            "password",
        ]
        read_only_fields = ["id", "is_superuser", "last_login", "date_joined"]

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list):
            fields["username"].read_only = True
        return fields

    def validate_password(self, value: str) -> str:
        user = self.instance if isinstance(self.instance, get_user_model()) else None
        password_validation.validate_password(value, user=user)
        return value

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        data["roles"] = sorted(g.name for g in instance.groups.all() if g.name in ROLES)
        return data
