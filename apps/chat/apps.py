from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "apps.chat"
    label = "chat"
    verbose_name = "Chat centre"

    def ready(self) -> None:
        from . import metrics  # noqa: F401  (registers the Prometheus metrics)
