from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.core.serializers import BaseModelSerializer, FloatField, IntegerField

from .. import conf
from ..choices import SearchMode
from ..embeddings import backends
from ..models import Answer, Chunk, Document, KnowledgeBase


class KnowledgeBaseSerializer(BaseModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    embedding_backend = serializers.ChoiceField(choices=[], required=False)

    class Meta:
        model = KnowledgeBase
        fields = [
            "id", "name", "description", "owner", "visibility", "language", "embedding_backend", "embedding_model",
            "embedding_dimension", "chunk_size", "chunk_overlap", "bm25_k1", "bm25_b", "rrf_k", "lexical_weight",
            "vector_weight", "document_count", "chunk_count", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["document_count", "chunk_count", "created_at", "updated_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(serializers.ChoiceField, self.fields["embedding_backend"]).choices = backends()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None:
            return attrs
        fixed = ("language", "embedding_backend", "embedding_model", "embedding_dimension")
        changed = [name for name in fixed if name in attrs and attrs[name] != getattr(self.instance, name)]
        if changed:
            raise serializers.ValidationError({name: "Fixed at creation; use re-index to change." for name in changed})
        return attrs


class ShareSerializer(serializers.Serializer):
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    group = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), required=False, allow_null=True
    )
    level = serializers.ChoiceField(choices=["view", "change", "manage"], default="view")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("user")) == bool(attrs.get("group")):
            raise serializers.ValidationError(gettext("Name exactly one of 'user' or 'group'."))
        return attrs


class DocumentSerializer(BaseModelSerializer):
    knowledge_base_id = IntegerField(read_only=True)
    progress = FloatField(read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Document
        fields = [
            "id", "knowledge_base_id", "title", "source", "original_name", "mime_type", "size", "sha256", "status",
            "error", "chunks_done", "chunks_total", "progress", "attempts", "metadata", "tags", "uploaded_by",
            "created_at", "updated_at", "processed_at",
        ]  # fmt: skip
        read_only_fields = fields


class UploadSerializer(serializers.Serializer):
    knowledge_base = IntegerField()
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), min_length=1, max_length=50)
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, default=list)


class TextDocumentSerializer(serializers.Serializer):
    knowledge_base = IntegerField()
    title = serializers.CharField(max_length=300)
    text = serializers.CharField(trim_whitespace=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, default=list)


class UrlDocumentSerializer(serializers.Serializer):
    knowledge_base = IntegerField()
    url = serializers.CharField(max_length=2000, help_text=_("An http:// or https:// URL of a page or file."))
    title = serializers.CharField(max_length=300, required=False, default="", help_text=_("Default: the page title."))
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, default=list)


class UploadResultSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    message = serializers.CharField()
    document = DocumentSerializer()


class UploadResponseSerializer(serializers.Serializer):
    results = UploadResultSerializer(many=True)


class ChunkSerializer(BaseModelSerializer):
    knowledge_base_id = IntegerField(read_only=True)
    document_id = IntegerField(read_only=True)

    class Meta:
        model = Chunk
        fields = ["id", "knowledge_base_id", "document_id", "ordinal", "text", "token_count", "heading", "page"]
        read_only_fields = fields


class FiltersSerializer(serializers.Serializer):
    document_ids = serializers.ListField(child=IntegerField(), required=False, default=list)
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    mime_types = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    created_after = serializers.DateTimeField(required=False, allow_null=True, default=None)
    created_before = serializers.DateTimeField(required=False, allow_null=True, default=None)


class SearchRequestSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000)
    knowledge_bases = serializers.ListField(child=IntegerField(), required=False, default=list)
    mode = serializers.ChoiceField(choices=SearchMode.choices, default=SearchMode.HYBRID)
    k = IntegerField(default=10, min_value=1)
    ef_search = IntegerField(required=False, min_value=10, max_value=1000)
    filters = FiltersSerializer(required=False)

    def validate_k(self, value: int) -> int:
        if value > conf.max_k():
            raise serializers.ValidationError(gettext("At most %(value)s.") % {"value": conf.max_k()})
        return value


class HitSerializer(serializers.Serializer):
    chunk_id = IntegerField()
    score = FloatField()
    lexical_score = FloatField(allow_null=True)
    vector_score = FloatField(allow_null=True)
    fused_score = FloatField(allow_null=True)
    lexical_rank = IntegerField(allow_null=True)
    vector_rank = IntegerField(allow_null=True)
    knowledge_base_id = IntegerField()
    knowledge_base = serializers.CharField()
    document_id = IntegerField()
    document_title = serializers.CharField()
    ordinal = IntegerField()
    heading = serializers.CharField()
    page = IntegerField(allow_null=True)
    text = serializers.CharField()
    snippet = serializers.CharField(help_text=_("HTML: the passage escaped, the query's words marked with <mark>."))


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    mode = serializers.CharField()
    results = HitSerializer(many=True)


class AskRequestSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=4000)
    knowledge_bases = serializers.ListField(child=IntegerField(), required=False, default=list)
    k = IntegerField(default=5, min_value=1)
    filters = FiltersSerializer(required=False)
    model = serializers.CharField(
        max_length=100,
        required=False,
        default="",
        allow_blank=True,
        help_text=_("A chat-centre model (slug) you may use to write the answer; default: the configured one."),
    )

    def validate_k(self, value: int) -> int:
        if value > conf.max_k():
            raise serializers.ValidationError(gettext("At most %(value)s.") % {"value": conf.max_k()})
        return value


class CitationSerializer(serializers.Serializer):
    number = IntegerField()
    chunk_id = IntegerField()
    document_id = IntegerField()
    document_title = serializers.CharField()
    knowledge_base_id = IntegerField()
    page = IntegerField(allow_null=True)
    heading = serializers.CharField()
    snippet = serializers.CharField()


class AnswerSerializer(BaseModelSerializer):
    citations = CitationSerializer(many=True)

    class Meta:
        model = Answer
        fields = ["id", "question", "text", "mode", "model", "citations", "chunk_ids", "latency_ms", "created_at"]
        read_only_fields = fields


class StatsSerializer(serializers.Serializer):
    knowledge_bases = IntegerField()
    documents = serializers.DictField(child=IntegerField())
    chunks = IntegerField()
    answers = IntegerField()
