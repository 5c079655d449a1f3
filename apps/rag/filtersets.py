import django_filters
from django.db.models import QuerySet

from apps.core.filtersets import BaseFilterSet

from .models import Chunk, Document, KnowledgeBase


class KnowledgeBaseFilterSet(BaseFilterSet):
    owner_id = django_filters.NumberFilter(field_name="owner_id")
    q_fields = ("name", "description")

    class Meta:
        model = KnowledgeBase
        fields = ["owner_id", "visibility", "language", "embedding_backend"]


class DocumentFilterSet(BaseFilterSet):
    knowledge_base_id = django_filters.NumberFilter(field_name="knowledge_base_id")
    uploaded_by_id = django_filters.NumberFilter(field_name="uploaded_by_id")
    tag = django_filters.CharFilter(field_name="tags", lookup_expr="contains", method="filter_tag")
    q_fields = ("title", "original_name")

    class Meta:
        model = Document
        fields = ["knowledge_base_id", "uploaded_by_id", "status", "source", "mime_type", "sha256", "tag"]

    def filter_tag(self, queryset: QuerySet[Document], name: str, value: str) -> QuerySet[Document]:
        return queryset.filter(tags__contains=[value])


class ChunkFilterSet(BaseFilterSet):
    knowledge_base_id = django_filters.NumberFilter(field_name="knowledge_base_id")
    document_id = django_filters.NumberFilter(field_name="document_id")
    q_fields = ("text", "heading")

    class Meta:
        model = Chunk
        fields = ["knowledge_base_id", "document_id", "page"]
