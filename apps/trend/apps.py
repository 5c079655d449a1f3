from django.apps import AppConfig


class TrendConfig(AppConfig):
    name = "apps.trend"
    label = "trend"
    verbose_name = "Trend analysis"
