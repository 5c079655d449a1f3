"""Knowledge base: Document ingestion and hybrid retrieval with cited answers."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from apps.chat.knowledge import register_knowledge_provider


class RagConfig(AppConfig):
    name = "apps.rag"
    label = "rag"
    verbose_name = _("Knowledge base")

    def ready(self) -> None:
        from apps.core.jobs import register_job_sweep

        from . import metrics  # noqa: F401  (registers the business gauges)
        from .knowledge import provider
        from .models import Document
        from .services.documents import documents_sweep_stuck
        from .tools import register_tools

        # documents are the knowledge base's long jobs: the core stuck-job sweep retries or fails them
        register_job_sweep(Document, documents_sweep_stuck)
        register_tools()
        register_knowledge_provider(provider)
