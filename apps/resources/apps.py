"""Resource management: metering of every system, plans and quotas, shared compute pools with reservations, host and
service monitoring, approvals for risky actions."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResourcesConfig(AppConfig):
    name = "apps.resources"
    label = "resources"
    verbose_name = _("Resource management")

    def ready(self) -> None:
        from . import metrics  # noqa: F401  (registers the business gauges)
        from .tools import register_tools

        register_tools()

        # --- pools, reservations and approvals: the approval actions of this app ---
        from .services.approvals import register_builtin_approval_actions
        from .services.plans import register_quota_approval_actions
        from .services.pools import register_pool_approval_actions

        register_builtin_approval_actions()
        register_pool_approval_actions()
        register_quota_approval_actions()
