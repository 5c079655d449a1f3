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
