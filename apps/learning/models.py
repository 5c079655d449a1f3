from django.utils.translation import gettext_lazy as _

from apps.core.models import PermissionHolder
from apps.core.roles import app_permissions


class LearningPermission(PermissionHolder):
    """Holds the Self-learning system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("learning")
        verbose_name = _("learning permission")
        verbose_name_plural = _("learning permissions")
