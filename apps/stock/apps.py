from django.apps import AppConfig


class StockConfig(AppConfig):
    name = "apps.stock"
    label = "stock"
    verbose_name = "Stock trading"
