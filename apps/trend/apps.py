from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrendConfig(AppConfig):
    name = "apps.trend"
    label = "trend"
    verbose_name = _("Trend analysis")
