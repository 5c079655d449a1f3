"""Knowledge bases, their documents and chunks, the BM25 term statistics, and recorded answers.

Embeddings live in an untyped ``vector`` column because each knowledge base fixes its own dimension; every knowledge
base gets its own partial HNSW index on ``(embedding::vector(dim))`` (see services/hnsw.py), which keeps the
nearest-neighbour graph per base so a k-NN search never has to filter other bases' vectors out.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField

from apps.core.caching import VersionedManager
from apps.core.models import OwnedModel, PermissionHolder, TimeStampedModel
from apps.core.roles import app_permissions

from .choices import TEXT_SEARCH_CONFIG, AnswerMode, DocumentSource, DocumentStatus, Language, Visibility


class RagPermission(PermissionHolder):
    """Holds the Knowledge base system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("rag")
        verbose_name = _("knowledge base permission")
        verbose_name_plural = _("knowledge base permissions")


class KnowledgeBase(OwnedModel):
    name = models.CharField(max_length=200, unique=True, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE, verbose_name=_("visibility")
    )
    language = models.CharField(
        max_length=8,
        choices=Language.choices,
        default=Language.ENGLISH,
        help_text=_("Decides stemming and segmentation."),
        verbose_name=_("language"),
    )
    embedding_backend = models.CharField(max_length=40, default="hashing", verbose_name=_("embedding backend"))
    embedding_model = models.CharField(max_length=200, default="hashing-v1", verbose_name=_("embedding model"))
    embedding_dimension = models.PositiveIntegerField(
        default=384, validators=[MinValueValidator(8), MaxValueValidator(2000)], verbose_name=_("embedding dimension")
    )
    chunk_size = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(20), MaxValueValidator(4000)],
        help_text=_("Words (or CJK characters)."),
        verbose_name=_("chunk size"),
    )
    chunk_overlap = models.PositiveIntegerField(
        default=40, validators=[MaxValueValidator(1000)], verbose_name=_("chunk overlap")
    )
    bm25_k1 = models.FloatField(
        default=1.2, validators=[MinValueValidator(0.0), MaxValueValidator(3.0)], verbose_name=_("BM25 k1")
    )
    bm25_b = models.FloatField(
        default=0.75, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)], verbose_name=_("BM25 b")
    )
    rrf_k = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(1000)], verbose_name=_("RRF k")
    )
    lexical_weight = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(10.0)], verbose_name=_("lexical weight")
    )
    vector_weight = models.FloatField(
        default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(10.0)], verbose_name=_("vector weight")
    )
    # Statistics kept by the ingestion services (BM25 needs the chunk count and the average chunk length).
    document_count = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("document count"))
    chunk_count = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("chunk count"))
    lexeme_total = models.BigIntegerField(
        default=0, editable=False, help_text=_("Sum of chunk lengths in lexemes."), verbose_name=_("lexeme total")
    )

    objects = VersionedManager()  # searches are cached until a base or document changes

    class Meta(OwnedModel.Meta):
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(chunk_overlap__lt=models.F("chunk_size")), name="rag_kb_overlap"),
            models.CheckConstraint(condition=models.Q(embedding_dimension__lte=2000), name="rag_kb_dimension"),
        ]
        verbose_name = _("knowledge base")
        verbose_name_plural = _("knowledge bases")

    def __str__(self) -> str:
        return self.name

    @property
    def text_search_config(self) -> str:
        return TEXT_SEARCH_CONFIG.get(self.language, "simple")

    @property
    def hnsw_index_name(self) -> str:
        return f"rag_chunk_hnsw_kb{self.pk}"


def document_upload_to(instance: Document, filename: str) -> str:
    return f"rag/{instance.knowledge_base_id}/{instance.sha256[:2]}/{instance.sha256[:16]}-{filename}"


class Document(TimeStampedModel):
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="documents", verbose_name=_("knowledge base")
    )
    title = models.CharField(max_length=300, verbose_name=_("title"))
    source = models.CharField(
        max_length=16, choices=DocumentSource.choices, default=DocumentSource.UPLOAD, verbose_name=_("source")
    )
    file = models.FileField(upload_to=document_upload_to, max_length=500, verbose_name=_("file"))
    original_name = models.CharField(max_length=255, blank=True, verbose_name=_("original name"))
    mime_type = models.CharField(max_length=120, verbose_name=_("MIME type"))
    size = models.PositiveBigIntegerField(default=0, verbose_name=_("size"))
    sha256 = models.CharField(max_length=64, verbose_name=_("SHA-256"))
    status = models.CharField(
        max_length=16,
        choices=DocumentStatus.choices,
        default=DocumentStatus.PENDING,
        db_index=True,
        verbose_name=_("status"),
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    chunks_done = models.PositiveIntegerField(default=0, verbose_name=_("chunks done"))
    chunks_total = models.PositiveIntegerField(default=0, verbose_name=_("chunks total"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    metadata = models.JSONField(
        default=dict, blank=True, help_text=_("Pages, sections and extractor details."), verbose_name=_("metadata")
    )
    tags = models.JSONField(default=list, blank=True, verbose_name=_("tags"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))

    objects = VersionedManager()  # searches are cached until a base or document changes

    class Meta(TimeStampedModel.Meta):
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["knowledge_base", "sha256"], name="rag_document_unique_content")]
        indexes = [GinIndex(fields=["tags"], name="rag_document_tags")]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self) -> str:
        return self.title

    @property
    def progress(self) -> float:
        return round(self.chunks_done / self.chunks_total, 4) if self.chunks_total else 0.0


class Chunk(models.Model):
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="+", verbose_name=_("knowledge base")
    )
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("document"))
    ordinal = models.PositiveIntegerField(verbose_name=_("ordinal"))
    text = models.TextField(verbose_name=_("text"))
    token_count = models.PositiveIntegerField(default=0, verbose_name=_("token count"))
    heading = models.CharField(
        max_length=500, blank=True, help_text=_("Heading path, e.g. 'Setup > Install'."), verbose_name=_("heading")
    )
    page = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("page"))
    embedding = VectorField(null=True, blank=True, verbose_name=_("embedding"))
    search_vector = SearchVectorField(null=True, blank=True, verbose_name=_("search vector"))
    lexeme_count = models.PositiveIntegerField(
        default=0, help_text=_("Chunk length for BM25."), verbose_name=_("lexeme count")
    )

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="rag_chunk_unique_ordinal")]
        indexes = [
            GinIndex(fields=["search_vector"], name="rag_chunk_search_vector"),
            models.Index(fields=["knowledge_base", "document"], name="rag_chunk_kb_document"),
        ]
        verbose_name = _("chunk")
        verbose_name_plural = _("chunks")

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class Posting(models.Model):
    """One lexeme of one chunk with its frequency: the inverted index BM25 is computed from."""

    # No database foreign-key constraints: checking two constraints per posting cost more than the rest of the
    # insert. Postings are written and removed only by services/index.py, together with their chunks.
    knowledge_base = models.ForeignKey(
        KnowledgeBase,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("knowledge base"),
    )
    chunk = models.ForeignKey(
        Chunk, on_delete=models.CASCADE, related_name="+", db_constraint=False, verbose_name=_("chunk")
    )
    lexeme = models.TextField(verbose_name=_("lexeme"))
    tf = models.PositiveIntegerField(verbose_name=_("term frequency"))
    chunk_length = models.PositiveIntegerField(verbose_name=_("chunk length"))

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["knowledge_base", "lexeme"], include=["chunk", "tf", "chunk_length"], name="rag_posting_lookup"
            )
        ]
        verbose_name = _("posting")
        verbose_name_plural = _("postings")

    def __str__(self) -> str:
        return f"{self.lexeme} x{self.tf} in chunk {self.chunk_id}"


class Term(models.Model):
    """Document frequency of a lexeme within one knowledge base (number of chunks containing it)."""

    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="+", db_constraint=False, verbose_name=_("knowledge base")
    )
    lexeme = models.TextField(verbose_name=_("lexeme"))
    df = models.PositiveIntegerField(default=0, verbose_name=_("document frequency"))

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["knowledge_base", "lexeme"], name="rag_term_unique")]
        verbose_name = _("term")
        verbose_name_plural = _("terms")

    def __str__(self) -> str:
        return f"{self.lexeme} (df {self.df})"


class Answer(TimeStampedModel):
    """A question asked of one or more knowledge bases, the answer given and the chunks it cites."""

    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("asked by")
    )
    question = models.TextField(verbose_name=_("question"))
    text = models.TextField(verbose_name=_("text"))
    mode = models.CharField(max_length=16, choices=AnswerMode.choices, verbose_name=_("mode"))
    model = models.CharField(max_length=200, blank=True, verbose_name=_("model"))
    knowledge_bases = models.ManyToManyField(KnowledgeBase, related_name="+", verbose_name=_("knowledge bases"))
    chunk_ids = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Ids of the chunks the answer was built from."),
        verbose_name=_("chunk ids"),
    )
    citations = models.JSONField(default=list, blank=True, verbose_name=_("citations"))
    latency_ms = models.PositiveIntegerField(default=0, verbose_name=_("latency (ms)"))

    class Meta(TimeStampedModel.Meta):
        ordering = ["-created_at", "-id"]
        verbose_name = _("answer")
        verbose_name_plural = _("answers")

    def __str__(self) -> str:
        return self.question[:80]
