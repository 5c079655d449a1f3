from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "apps.chat"
    label = "chat"
    verbose_name = _("Chat centre")

    def ready(self) -> None:
        from apps.core.exceptions import register_error_shape

        from . import metrics  # noqa: F401  (registers the Prometheus metrics)
        from .api.openai import openai_error

        # errors answered outside DRF under /v1/ (body too large, unknown path) in OpenAI's shape
        register_error_shape("/v1/", lambda status, code, message, details: openai_error(status, message, code))
