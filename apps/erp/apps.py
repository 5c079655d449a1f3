from django.apps import AppConfig


class ErpConfig(AppConfig):
    name = "apps.erp"
    label = "erp"
    verbose_name = "ERP"

    def ready(self) -> None:
        from .tools import register_tools

        register_tools()
