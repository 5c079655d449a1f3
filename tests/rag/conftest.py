import pytest
from django.test import override_settings

from apps.core.roles import USER
from apps.rag.services import document_add_url, document_create_text, document_upload
from tests.rag.factories import KnowledgeBaseFactory


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.HTTP_RETRY_BACKOFF = 0.0
    return tmp_path / "media"


@pytest.fixture
def kb(db, make_user):
    return KnowledgeBaseFactory(owner=make_user(role=USER), name="Handbook")


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """Ingest text or a file through the real service and the eager Celery task; returns the document."""

    def _ingest(kb, *, title=None, text=None, filename=None, data=None, tags=None, user=None):
        with django_capture_on_commit_callbacks(execute=True):
            if text is not None:
                result = document_create_text(kb=kb, title=title or "Text", text=text, tags=tags, uploaded_by=user)
            else:
                result = document_upload(
                    kb=kb, filename=filename, data=data, title=title or "", tags=tags, uploaded_by=user
                )
        result.document.refresh_from_db()
        kb.refresh_from_db()
        return result.document

    return _ingest


@pytest.fixture
def ingest_url(django_capture_on_commit_callbacks):
    """Fetch a URL into a base through the real service and the eager Celery task; returns the document."""

    def _ingest(kb, url, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = document_add_url(kb=kb, url=url, **kwargs)
        result.document.refresh_from_db()
        return result.document

    return _ingest


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Call ``fn`` and run the on-commit callbacks it queued (the eager ingestion task)."""

    def _run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return _run


__all__ = ["override_settings"]
