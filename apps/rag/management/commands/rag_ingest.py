"""manage.py rag_ingest PATH_OR_URL... --kb NAME: ingest files, folders (recursively) and http(s) URLs into a
knowledge base. The whole run is one bulk load: when it is large relative to the base, the base's HNSW index is
dropped and built again once at the end (see apps/rag/services/hnsw.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.rag.extraction import MIME_BY_EXTENSION
from apps.rag.models import Document, KnowledgeBase
from apps.rag.services import document_add_url
from apps.rag.services.hnsw import hnsw_bulk_load
from apps.rag.services.ingestion import documents_process, documents_upload_many


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


class Command(BaseCommand):
    help = "Ingest files, folders and http(s) URLs into a knowledge base (synchronously, with a progress bar)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH_OR_URL")
        parser.add_argument("--kb", required=True, help="Knowledge base name.")
        parser.add_argument("--tag", action="append", default=[], help="Tag for every document (repeatable).")
        parser.add_argument(
            "--batch", type=int, default=50, help="Files stored and indexed together in one transaction."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        kb = KnowledgeBase.objects.filter(name=opts["kb"]).first()
        if kb is None:
            raise CommandError(f"No knowledge base named '{opts['kb']}'.")
        items: list[Path | str] = []
        for value in opts["paths"]:
            path = Path(value)
            if is_url(value):
                items.append(value)
            elif path.is_dir():
                items.extend(
                    sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MIME_BY_EXTENSION)
                )
            elif path.is_file():
                items.append(path)
            else:
                raise CommandError(f"No such file or folder: {value}")
        self.counts = {"ready": 0, "failed": 0, "duplicates": 0}
        interactive = sys.stdout.isatty()
        batch = max(1, opts["batch"])
        done = 0
        with hnsw_bulk_load(kb) as load:
            for first in range(0, len(items), batch):
                group = items[first : first + batch]
                created = self._store(kb, group, opts["tag"])
                processed = documents_process(
                    document_ids=[document.pk for _, document in created],
                    load=load,
                    remaining_documents=len(items) - first - len(group),
                )
                for (item, _), document in zip(created, processed, strict=True):
                    if document.status == "ready":
                        self.counts["ready"] += 1
                    else:
                        self._failed(item, document.error)
                done += len(group)
                name = group[-1].name if isinstance(group[-1], Path) else group[-1]
                line = f"{progress_bar(done, len(items))} {name[:40]}"
                self.stdout.write(("\r" + line) if interactive else line, ending="" if interactive else "\n")
            if interactive:
                self.stdout.write("")
            if load.suspended:
                self.stdout.write("Building the HNSW index...")
        ready, duplicates, failed = self.counts["ready"], self.counts["duplicates"], self.counts["failed"]
        self.stdout.write(self.style.SUCCESS(f"{ready} ingested, {duplicates} already present, {failed} failed"))
        if failed:  # the good items stay ingested; a script still sees that some did not make it
            raise CommandError("Nothing could be ingested." if not ready and not duplicates else f"{failed} failed.")

    def _store(self, kb: KnowledgeBase, group: list[Path | str], tags: list[str]) -> list[tuple[Path | str, Document]]:
        """Store the group's files (one transaction) and fetched URLs as pending documents; returns the new ones."""
        created: list[tuple[Path | str, Document]] = []
        paths = [item for item in group if isinstance(item, Path)]
        if paths:
            try:
                uploads = documents_upload_many(
                    kb=kb, files=[(path.name, path.read_bytes()) for path in paths], tags=tags
                )
            except ApplicationError as exc:
                for path in paths:
                    self._failed(path, exc.message)
            else:
                for path, upload in zip(paths, uploads, strict=True):
                    created.extend(self._result(path, upload.document, upload.created, upload.message))
        for url in (item for item in group if isinstance(item, str)):
            try:
                result = document_add_url(kb=kb, url=url, tags=tags, enqueue=False)
            except ApplicationError as exc:
                self._failed(url, exc.message)
            else:
                created.extend(self._result(url, result.document, result.created, result.message))
        return created

    def _result(
        self, item: Path | str, document: Document | None, created: bool, message: str
    ) -> list[tuple[Path | str, Document]]:
        if document is None:
            self._failed(item, message)
        elif not created:
            self.counts["duplicates"] += 1
            self.stdout.write(f"{item}: {message}")
        else:
            return [(item, document)]
        return []

    def _failed(self, item: Path | str, message: str) -> None:
        self.counts["failed"] += 1
        self.stderr.write(f"{item}: {message}")
