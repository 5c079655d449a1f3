from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions


class ChatPermission(PermissionHolder):
    """Holds the Chat centre system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("chat")
