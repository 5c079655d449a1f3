from django.utils.translation import gettext_lazy as _

from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions


class AgentsPermission(PermissionHolder):
    """Holds the Task agents system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("agents")
        verbose_name = _("agents permission")
        verbose_name_plural = _("agents permissions")
