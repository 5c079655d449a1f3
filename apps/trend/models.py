from django.utils.translation import gettext_lazy as _

from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions


class TrendPermission(PermissionHolder):
    """Holds the Trend analysis system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("trend")
        verbose_name = _("trend permission")
        verbose_name_plural = _("trend permissions")
