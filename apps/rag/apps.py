"""Knowledge base: Document ingestion and hybrid retrieval with cited answers."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RagConfig(AppConfig):
    name = "apps.rag"
    label = "rag"
    verbose_name = _("Knowledge base")

    def ready(self) -> None:
        from . import metrics  # noqa: F401  (registers the business gauges)
