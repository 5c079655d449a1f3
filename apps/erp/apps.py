from django.apps import AppConfig


class ErpConfig(AppConfig):
    name = "apps.erp"
    label = "erp"
    verbose_name = "ERP"
