"""API of the knowledge base: bases (with sharing), documents (upload, text, re-process), chunks, search, ask,
stats. Viewsets are thin: permissions, shaping, and calls into services and selectors."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, ClassVar

from django.db.models import Count, QuerySet, Sum
from django.http.response import HttpResponseBase
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.exceptions import Forbidden
from apps.core.jobs import JobCreateMixin
from apps.core.parsers import SafeFormParser, SafeJSONParser, SafeMultiPartParser
from apps.core.permissions import ActionPermission, RequirePermission
from apps.core.viewsets import (
    AuditedWritesMixin,
    BaseAPIView,
    BaseModelViewSet,
    BaseReadOnlyViewSet,
    UserLanguageMixin,
    cached_json_response,
)

from .. import selectors, services
from ..choices import DocumentSource
from ..filtersets import ChunkFilterSet, DocumentFilterSet, KnowledgeBaseFilterSet
from ..models import Answer, Document, KnowledgeBase
from ..retrieval import SEARCH_DEPENDS_ON, Filters, record_cached_search, search
from . import serializers as s

READ, WRITE = "rag.read", "rag.write"


class KnowledgeBaseAccess(BasePermission):
    """Reads: the queryset is already narrowed to readable bases. Edits need write access to the base; delete and
    sharing need the owner (or a 'manage' grant)."""

    def has_object_permission(self, request: Request, view: Any, obj: KnowledgeBase) -> bool:
        if view.action in ("retrieve", "list"):
            return True
        if view.action in ("update", "partial_update"):
            if not selectors.knowledge_bases_writable(request.user).filter(pk=obj.pk).exists():
                raise Forbidden(gettext("You may read this knowledge base but not change it."))
            return True
        if not selectors.can_manage(request.user, obj):
            raise Forbidden(gettext("Only the owner may delete or share this knowledge base."))
        return True


class KnowledgeBaseViewSet(BaseModelViewSet):
    queryset = KnowledgeBase.objects.select_related("owner").order_by("name")
    serializer_class = s.KnowledgeBaseSerializer
    filterset_class = KnowledgeBaseFilterSet
    permission_classes = [ActionPermission, KnowledgeBaseAccess]
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {"read": READ, "write": WRITE}
    ordering_fields: ClassVar[list[str]] = ["name", "created_at", "chunk_count", "document_count"]
    search_fields: ClassVar[list[str]] = ["name", "description"]

    def get_queryset(self) -> QuerySet[KnowledgeBase]:
        return selectors.knowledge_bases_readable(self.request.user).select_related("owner").order_by("name")

    def create_object(self, serializer: Any, **extra: Any) -> KnowledgeBase:
        return services.knowledge_base_create(
            owner=self.request.user, actor=self.request.user, **serializer.validated_data
        )

    def update_object(self, serializer: Any) -> KnowledgeBase:
        return services.knowledge_base_update(
            kb=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def destroy_object(self, instance: KnowledgeBase) -> None:
        services.knowledge_base_delete(kb=instance, actor=self.request.user)

    def _share_target(self, request: Request) -> Any:
        serializer = s.ShareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return data.get("user") or data.get("group"), data["level"]

    @extend_schema(request=s.ShareSerializer, responses=s.KnowledgeBaseSerializer)
    @action(detail=True, methods=["post"])
    def share(self, request: Request, pk: str | None = None) -> Response:
        kb = self.get_object()
        target, level = self._share_target(request)
        kb = services.knowledge_base_share(kb=kb, to=target, level=level, actor=request.user)
        return Response(s.KnowledgeBaseSerializer(kb).data)

    @extend_schema(request=s.ShareSerializer, responses=s.KnowledgeBaseSerializer)
    @action(detail=True, methods=["post"])
    def unshare(self, request: Request, pk: str | None = None) -> Response:
        kb = self.get_object()
        target, _ = self._share_target(request)
        kb = services.knowledge_base_unshare(kb=kb, to=target, actor=request.user)
        return Response(s.KnowledgeBaseSerializer(kb).data)


def _results_response(results: list[services.UploadResult]) -> Response:
    body = {
        "results": [
            {"created": r.created, "message": r.message, "document": s.DocumentSerializer(r.document).data}
            for r in results
        ]
    }
    return Response(body, status=status.HTTP_202_ACCEPTED)


class DocumentViewSet(
    JobCreateMixin,
    UserLanguageMixin,
    AuditedWritesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Documents of the bases the caller may read. Upload is multipart (``files`` repeated, ``knowledge_base``,
    optional ``tags``); ``text/`` takes pasted text and ``url/`` a page or file to fetch. Ingestion runs in the
    background and its progress shows in ``status``/``progress``."""

    queryset = Document.objects.select_related("uploaded_by").order_by("-created_at", "-id")
    serializer_class = s.DocumentSerializer
    filterset_class = DocumentFilterSet
    permission_classes = [ActionPermission]
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {"read": READ, "write": WRITE}
    parser_classes = [SafeMultiPartParser, SafeFormParser, SafeJSONParser]
    ordering_fields: ClassVar[list[str]] = ["created_at", "title", "status", "size"]

    def get_queryset(self) -> QuerySet[Document]:
        return (
            selectors.documents_readable(self.request.user).select_related("uploaded_by").order_by("-created_at", "-id")
        )

    @extend_schema(
        request={"multipart/form-data": s.UploadSerializer},
        responses={202: s.UploadResponseSerializer},
        description="Upload one or more files (``files`` repeated). Every file is checked first: one unusable file "
        "(too large, unsupported, empty, binary, corrupt or encrypted) refuses the request with a 400 naming it, and "
        "nothing is stored. Content already in the base is reported per file and not stored twice.",
    )
    def create(self, request: Request) -> Response:
        serializer = s.UploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        kb = selectors.knowledge_base_for_write(user=request.user, kb_id=data["knowledge_base"])
        results = services.documents_upload(
            kb=kb,
            files=[(upload.name, upload) for upload in data["files"]],
            uploaded_by=request.user,
            tags=data["tags"],
            source=DocumentSource.UPLOAD,
        )
        return _results_response(results)

    @extend_schema(request=s.TextDocumentSerializer, responses={202: s.UploadResponseSerializer})
    @action(detail=False, methods=["post"], parser_classes=[SafeJSONParser])
    def text(self, request: Request) -> Response:
        serializer = s.TextDocumentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        kb = selectors.knowledge_base_for_write(user=request.user, kb_id=data["knowledge_base"])
        result = services.document_create_text(
            kb=kb, title=data["title"], text=data["text"], tags=data["tags"], uploaded_by=request.user
        )
        return _results_response([result])

    @extend_schema(
        request=s.UrlDocumentSerializer,
        responses={202: s.UploadResponseSerializer},
        description="Fetch a page or file from an http(s) URL and ingest it. The URL must resolve to a public address; "
        "redirects, size and time are limited; the content type chooses the extractor. The final URL and fetch time "
        "are in the document's metadata.",
    )
    @action(detail=False, methods=["post"], parser_classes=[SafeJSONParser])
    def url(self, request: Request) -> Response:
        serializer = s.UrlDocumentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        kb = selectors.knowledge_base_for_write(user=request.user, kb_id=data["knowledge_base"])
        result = services.document_add_url(
            kb=kb, url=data["url"], title=data["title"], tags=data["tags"], uploaded_by=request.user
        )
        return _results_response([result])

    @extend_schema(request=None, responses={202: s.DocumentSerializer})
    @action(detail=True, methods=["post"])
    def reprocess(self, request: Request, pk: str | None = None) -> Response:
        document = self.get_object()
        selectors.knowledge_base_for_write(user=request.user, kb_id=document.knowledge_base_id)
        document = services.document_reprocess(document=document, actor=request.user)
        return self.job_accepted(document, s.DocumentSerializer(document).data)  # Location: the document to poll

    def perform_destroy(self, instance: Document) -> None:
        selectors.knowledge_base_for_write(user=self.request.user, kb_id=instance.knowledge_base_id)
        services.document_delete(document=instance, actor=self.request.user)


class ChunkViewSet(BaseReadOnlyViewSet):
    serializer_class = s.ChunkSerializer
    filterset_class = ChunkFilterSet
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {"read": READ}
    ordering_fields: ClassVar[list[str]] = ["document_id", "ordinal"]

    def get_queryset(self) -> QuerySet[Any]:
        return (
            selectors.chunks_readable(self.request.user)
            .defer("embedding", "search_vector")
            .order_by("document_id", "ordinal")
        )


def _filters(data: dict[str, Any] | None) -> Filters:
    return Filters(**data) if data else Filters()


class SearchView(BaseAPIView):
    permission_classes = [RequirePermission(READ)]

    @extend_schema(request=s.SearchRequestSerializer, responses=s.SearchResponseSerializer)
    def post(self, request: Request) -> HttpResponseBase:
        """A repeated search (same caller, same request) is answered from the rendered response until a knowledge
        base, document, chunk or permission changes; validation, ranking and rendering are skipped then."""
        started = time.perf_counter()
        payload = json.dumps(request.data, sort_keys=True, default=str)
        response, hit = cached_json_response(
            self,
            request,
            key=f"read:rag.search:u{request.user.pk}:{hashlib.sha256(payload.encode()).hexdigest()[:32]}",
            namespaces=SEARCH_DEPENDS_ON,
            handler=lambda: self._search(request),
        )
        if hit:
            mode = request.data.get("mode") if isinstance(request.data, dict) else None
            record_cached_search(mode, time.perf_counter() - started)
        return response

    def _search(self, request: Request) -> Response:
        serializer = s.SearchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        hits = search(
            user=request.user,
            query=data["query"],
            knowledge_base_ids=data["knowledge_bases"],
            mode=data["mode"],
            k=data["k"],
            filters=_filters(data.get("filters")),
            ef_search=data.get("ef_search"),
        )
        return Response({"query": data["query"], "mode": data["mode"], "results": [h.as_dict() for h in hits]})


class AskView(BaseAPIView):
    permission_classes = [RequirePermission(READ)]

    @extend_schema(request=s.AskRequestSerializer, responses=s.AnswerSerializer)
    def post(self, request: Request) -> Response:
        serializer = s.AskRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        answer = services.ask(
            user=request.user,
            question=data["question"],
            knowledge_base_ids=data["knowledge_bases"],
            k=data["k"],
            filters=_filters(data.get("filters")),
            model=data["model"],
        )
        return Response(s.AnswerSerializer(answer).data)


class StatsView(BaseAPIView):
    permission_classes = [RequirePermission(READ)]

    @extend_schema(responses={200: OpenApiResponse(s.StatsSerializer)})
    def get(self, request: Request) -> Response:
        kbs = selectors.knowledge_bases_readable(request.user)
        documents = (
            Document.objects.filter(knowledge_base__in=kbs.values("pk"))
            .order_by()
            .values("status")
            .annotate(n=Count("id"))
        )
        return Response(
            {
                "knowledge_bases": kbs.count(),
                "documents": {row["status"]: row["n"] for row in documents},
                "chunks": kbs.aggregate(n=Sum("chunk_count"))["n"] or 0,
                "answers": Answer.objects.filter(asked_by_id=request.user.pk).count(),
            }
        )
