"""Stock trading: Market data, indicators, backtesting and paper trading."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StockConfig(AppConfig):
    name = "apps.stock"
    label = "stock"
    verbose_name = _("Stock trading")

    def ready(self) -> None:
        from . import metrics  # noqa: F401  (registers the business gauges)
        from .tools import register_tools

        register_tools()
