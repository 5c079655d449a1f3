from django.utils.translation import gettext_lazy as _

from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions


class ContentPermission(PermissionHolder):
    """Holds the Content creation system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("content")
        verbose_name = _("content permission")
        verbose_name_plural = _("content permissions")
