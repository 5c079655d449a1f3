"""The stored files of documents: the check a file passes before it is stored, its storage name, and its removal
once the transaction that dropped its document commits. Shared by single uploads (documents.py), batch uploads
(ingestion.py) and knowledge-base deletion (knowledge_bases.py)."""

from __future__ import annotations

import os
import re

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext

from apps.core.exceptions import ValidationFailed

from .. import conf
from ..extraction import extract, mime_for


def safe_name(filename: str) -> str:
    """A storage name for ``filename``: its base name with anything but word characters, dots and dashes replaced."""
    base = os.path.basename(filename or "document.txt")
    stem, ext = os.path.splitext(base)
    stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.UNICODE).strip("-.")[:80] or "document"
    return stem + ext.lower()


def file_check(*, filename: str, data: bytes) -> str:
    """The MIME type of a file that can be ingested; raises ValidationFailed (size limit, unsupported type, empty,
    binary, corrupt or encrypted content) with a readable message otherwise."""
    limit = conf.max_upload_bytes()
    if len(data) > limit:
        raise ValidationFailed(
            gettext("The file is larger than the limit of %(value)s MB.") % {"value": limit // (1024 * 1024)},
            code="file_too_large",
            details={"file": filename, "size": len(data), "limit": limit},
        )
    mime = mime_for(filename)
    extract(data, mime_type=mime, filename=filename)  # raises a readable ExtractionError for unusable files
    return mime


def file_delete_on_commit(name: str | None) -> None:
    if name:
        transaction.on_commit(lambda: default_storage.delete(name) if default_storage.exists(name) else None)
