"""Writes of the knowledge base (see the modules for details)."""

from .answers import ask
from .documents import (
    UploadResult,
    document_add_url,
    document_create_text,
    document_delete,
    document_process,
    document_reprocess,
    document_upload,
    documents_check_consistency,
    documents_upload,
)
from .knowledge_bases import (
    knowledge_base_create,
    knowledge_base_delete,
    knowledge_base_reindex,
    knowledge_base_share,
    knowledge_base_unshare,
    knowledge_base_update,
)

__all__ = [
    "UploadResult",
    "ask",
    "document_add_url",
    "document_create_text",
    "document_delete",
    "document_process",
    "document_reprocess",
    "document_upload",
    "documents_check_consistency",
    "documents_upload",
    "knowledge_base_create",
    "knowledge_base_delete",
    "knowledge_base_reindex",
    "knowledge_base_share",
    "knowledge_base_unshare",
    "knowledge_base_update",
]
