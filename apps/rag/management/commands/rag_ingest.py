"""manage.py rag_ingest PATH... --kb NAME: ingest files or folders (recursively) into a knowledge base."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.rag.extraction import MIME_BY_EXTENSION
from apps.rag.models import KnowledgeBase
from apps.rag.services import document_process, document_upload


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


class Command(BaseCommand):
    help = "Ingest files or folders into a knowledge base (synchronously, with a progress bar)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--kb", required=True, help="Knowledge base name.")
        parser.add_argument("--tag", action="append", default=[], help="Tag for every document (repeatable).")

    def handle(self, *args: Any, **opts: Any) -> None:
        kb = KnowledgeBase.objects.filter(name=opts["kb"]).first()
        if kb is None:
            raise CommandError(f"No knowledge base named '{opts['kb']}'.")
        files: list[Path] = []
        for path in opts["paths"]:
            if path.is_dir():
                files.extend(
                    sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MIME_BY_EXTENSION)
                )
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"No such file or folder: {path}")
        ready = failed = duplicates = 0
        interactive = sys.stdout.isatty()
        for n, path in enumerate(files, start=1):
            try:
                result = document_upload(
                    kb=kb, filename=path.name, data=path.read_bytes(), tags=opts["tag"], enqueue=False
                )
            except ApplicationError as exc:
                failed += 1
                self.stderr.write(f"{path}: {exc.message}")
                continue
            if not result.created:
                duplicates += 1
                self.stdout.write(f"{path}: {result.message}")
            else:
                document = document_process(document_id=result.document.pk)
                if document.status == "ready":
                    ready += 1
                else:
                    failed += 1
                    self.stderr.write(f"{path}: {document.error}")
            line = f"{progress_bar(n, len(files))} {path.name[:40]}"
            self.stdout.write(("\r" + line) if interactive else line, ending="" if interactive else "\n")
        if interactive:
            self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"{ready} ingested, {duplicates} already present, {failed} failed"))
        if failed and not ready and not duplicates:
            raise CommandError("Nothing could be ingested.")
