from django.utils.translation import gettext_lazy as _

from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions


class ResourcesPermission(PermissionHolder):
    """Holds the Resource management system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("resources")
        verbose_name = _("resources permission")
        verbose_name_plural = _("resources permissions")
