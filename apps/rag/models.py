from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions


class RagPermission(PermissionHolder):
    """Holds the Knowledge base system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("rag")
