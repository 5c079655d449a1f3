"""manage.py rag_ingest PATH... --kb NAME: ingest files or folders (recursively) into a knowledge base."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.rag.extraction import MIME_BY_EXTENSION
from apps.rag.models import KnowledgeBase
from apps.rag.services.ingestion import documents_process, documents_upload_many


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


class Command(BaseCommand):
    help = "Ingest files or folders into a knowledge base (synchronously, with a progress bar)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--kb", required=True, help="Knowledge base name.")
        parser.add_argument("--tag", action="append", default=[], help="Tag for every document (repeatable).")
        parser.add_argument(
            "--batch", type=int, default=50, help="Files stored and indexed together in one transaction."
        )

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
        ready = failed = duplicates = done = 0
        interactive = sys.stdout.isatty()
        batch = max(1, opts["batch"])
        for first in range(0, len(files), batch):
            group = files[first : first + batch]
            try:
                uploads = documents_upload_many(
                    kb=kb, files=[(path.name, path.read_bytes()) for path in group], tags=opts["tag"]
                )
            except ApplicationError as exc:
                failed += len(group)
                self.stderr.write(f"{group[0]}..{group[-1]}: {exc.message}")
                continue
            for path, upload in zip(group, uploads, strict=True):
                if upload.document is None:
                    failed += 1
                    self.stderr.write(f"{path}: {upload.message}")
                elif not upload.created:
                    duplicates += 1
                    self.stdout.write(f"{path}: {upload.message}")
            created = [(path, u.document) for path, u in zip(group, uploads, strict=True) if u.created and u.document]
            processed = documents_process(document_ids=[document.pk for _, document in created])
            for (path, _), document in zip(created, processed, strict=True):
                if document.status == "ready":
                    ready += 1
                else:
                    failed += 1
                    self.stderr.write(f"{path}: {document.error}")
            done += len(group)
            line = f"{progress_bar(done, len(files))} {group[-1].name[:40]}"
            self.stdout.write(("\r" + line) if interactive else line, ending="" if interactive else "\n")
        if interactive:
            self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"{ready} ingested, {duplicates} already present, {failed} failed"))
        if failed and not ready and not duplicates:
            raise CommandError("Nothing could be ingested.")
