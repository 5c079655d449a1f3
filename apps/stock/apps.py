"""Stock trading: Market data, indicators, backtesting and paper trading."""

from django.apps import AppConfig


class StockConfig(AppConfig):
    name = "apps.stock"
    label = "stock"
    verbose_name = "Stock trading"

    def ready(self) -> None:
        from . import metrics  # noqa: F401  (registers the business gauges)
        from .tools import register_tools

        register_tools()
