from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.core.metrics import refresh_business_metrics
from apps.core.roles import ADMIN
from apps.rag.models import Document
from apps.rag.tasks import check_consistency

pytestmark = pytest.mark.django_db


def test_consistency_retries_stuck_documents_fails_hopeless_ones_and_removes_orphans(
    kb, ingest, django_capture_on_commit_callbacks
):
    stuck = ingest(kb, title="stuck", text="Stuck text.")
    hopeless = ingest(kb, title="hopeless", text="Hopeless text.")
    long_ago = timezone.now() - timedelta(hours=2)
    Document.objects.filter(pk=stuck.pk).update(status="processing", updated_at=long_ago, attempts=1)
    Document.objects.filter(pk=hopeless.pk).update(status="processing", updated_at=long_ago, attempts=3)
    orphan = default_storage.save("rag/999/ab/orphan.txt", __import__("io").BytesIO(b"left behind"))
    with django_capture_on_commit_callbacks(execute=True):
        result = check_consistency.delay().get()
    assert result == {"retried": 1, "failed": 1, "orphans_removed": 1, "indexes_built": 0}
    stuck.refresh_from_db()
    hopeless.refresh_from_db()
    assert stuck.status == "ready" and stuck.attempts == 2
    assert hopeless.status == "failed" and "did not finish after 3 attempts" in hopeless.error
    assert not default_storage.exists(orphan)
    assert default_storage.exists(stuck.file.name)


def test_inventory_metrics(kb, ingest):
    ingest(kb, title="m", text="Metric text.")
    refresh_business_metrics()  # what the beat job does; the scrape then exports the snapshot
    assert REGISTRY.get_sample_value("rag_documents", {"status": "ready"}) == 1
    assert REGISTRY.get_sample_value("rag_chunks") == 1


def test_demo_seed_is_idempotent(make_user, django_capture_on_commit_callbacks):
    import io

    from apps.rag import demo
    from apps.rag.models import KnowledgeBase

    make_user(username=ADMIN, role=ADMIN, is_superuser=True)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            demo.seed(stdout=io.StringIO())
    kb = KnowledgeBase.objects.get(name=demo.DEMO_NAME)
    assert kb.visibility == "everyone"
    assert kb.documents.filter(status="ready").count() == kb.documents.count() >= 5
