from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions


class ErpPermission(PermissionHolder):
    """Holds the ERP system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("erp")
