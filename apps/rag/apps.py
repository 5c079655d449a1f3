"""Knowledge base: Document ingestion and hybrid retrieval with cited answers."""

from django.apps import AppConfig

from apps.chat.knowledge import register_knowledge_provider


class RagConfig(AppConfig):
    name = "apps.rag"
    label = "rag"
    verbose_name = "Knowledge base"

    def ready(self) -> None:
        from . import metrics  # noqa: F401  (registers the business gauges)
        from .knowledge import provider

        register_knowledge_provider(provider)
