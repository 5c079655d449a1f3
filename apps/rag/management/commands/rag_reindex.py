"""manage.py rag_reindex --kb NAME [--backend B --model M --dimension D]: re-embed every chunk of a base."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.rag.models import KnowledgeBase
from apps.rag.services import knowledge_base_reindex

from .rag_ingest import progress_bar


class Command(BaseCommand):
    help = "Re-embed a knowledge base (after an embedding model change) and rebuild its HNSW index."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--kb", required=True)
        parser.add_argument("--backend")
        parser.add_argument("--model")
        parser.add_argument("--dimension", type=int)

    def handle(self, *args: Any, **opts: Any) -> None:
        kb = KnowledgeBase.objects.filter(name=opts["kb"]).first()
        if kb is None:
            raise CommandError(f"No knowledge base named '{opts['kb']}'.")
        try:
            count = knowledge_base_reindex(
                kb=kb,
                embedding_backend=opts["backend"],
                embedding_model=opts["model"],
                embedding_dimension=opts["dimension"],
                progress=lambda done, total: self.stdout.write(progress_bar(done, total)),
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        kb.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-embedded {count} chunks with {kb.embedding_backend}/{kb.embedding_model} "
                f"({kb.embedding_dimension})"
            )
        )
