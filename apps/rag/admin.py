"""Back office of the knowledge base: bases (counts, sharing through guardian), documents (add by upload, URL or
pasted text; status, progress, error, re-process), a chunk browser, recorded answers, and a "try a search" page
showing the hybrid score parts."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdminMixin
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from apps.core.admin_base import BaseModelAdmin, OwnedObjectsAdminMixin, ReadOnlyModelAdmin
from apps.core.exceptions import ApplicationError

from . import services
from .choices import DocumentSource, SearchMode
from .models import Answer, Chunk, Document, KnowledgeBase
from .retrieval import search
from .selectors import knowledge_bases_readable, knowledge_bases_writable


class MultipleFileInput(UnfoldAdminFileFieldWidget):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        cleaned = []
        for upload in files:
            cleaned.append(super().clean(upload, initial))
        return cleaned


class DocumentAddForm(forms.Form):
    """One way in per submission: files, a URL, or pasted text."""

    knowledge_base = forms.ModelChoiceField(
        queryset=KnowledgeBase.objects.none(), label=_("Knowledge base"), widget=UnfoldAdminSelectWidget
    )
    # A declared field named like BaseForm.files: Django's form metaclass moves declared fields off the class.
    files = MultipleFileField(  # type: ignore[assignment]
        required=False, label=_("Files"), help_text=_("One or more files (txt, md, html, pdf, docx, csv, json).")
    )
    url = forms.URLField(
        required=False,
        assume_scheme="https",
        label=_("URL"),
        help_text=_("A page or file to fetch."),
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "https://"}),
    )
    title = forms.CharField(
        max_length=300,
        required=False,
        label=_("Title"),
        help_text=_("For a URL or pasted text (optional)."),
        widget=UnfoldAdminTextInputWidget,
    )
    text = forms.CharField(widget=UnfoldAdminTextareaWidget(attrs={"rows": 8}), required=False, label=_("Pasted text"))
    tags = forms.CharField(
        max_length=500,
        required=False,
        label=_("Tags"),
        help_text=_("Comma-separated."),
        widget=UnfoldAdminTextInputWidget,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        given = [name for name in ("files", "url", "text") if data.get(name)]
        if len(given) != 1:
            raise forms.ValidationError(gettext("Give exactly one of: files, a URL, or pasted text."))
        data["tags"] = [t.strip() for t in (data.get("tags") or "").split(",") if t.strip()]
        return data


class SearchForm(forms.Form):
    query = forms.CharField(max_length=2000, label=_("Query"), widget=UnfoldAdminTextInputWidget)
    knowledge_base = forms.ModelChoiceField(
        queryset=KnowledgeBase.objects.none(), required=False, label=_("Knowledge base"), widget=UnfoldAdminSelectWidget
    )
    mode = forms.ChoiceField(
        choices=SearchMode.choices, initial=SearchMode.HYBRID, label=_("Mode"), widget=UnfoldAdminSelectWidget
    )
    k = forms.IntegerField(
        min_value=1, max_value=50, initial=10, label=_("Results (k)"), widget=UnfoldAdminIntegerFieldWidget
    )


class ReadableBasesAdminMixin(OwnedObjectsAdminMixin):
    """Only the knowledge bases the user may read (own, shared, or open to everyone), and their documents and chunks:
    the same rule as search and the API."""

    base_field: str = "knowledge_base"

    def visible_queryset(self, request: HttpRequest, queryset: Any) -> Any:
        readable = knowledge_bases_readable(request.user)
        if not self.base_field:
            return queryset.filter(pk__in=readable.values("pk"))
        return queryset.filter(**{f"{self.base_field}__in": readable.values("pk")})


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(ReadableBasesAdminMixin, GuardedModelAdminMixin, BaseModelAdmin):
    base_field = ""
    permission_read = "rag.read"
    permission_write = "rag.write"
    list_display = ["name", "owner", "visibility", "language", "embedding_backend", "document_count", "chunk_count"]
    list_filter = ["visibility", "language", "embedding_backend"]
    search_fields = ["name", "description", "owner__username"]
    readonly_fields = ["document_count", "chunk_count", "lexeme_total", "created_at", "updated_at"]
    autocomplete_fields = ["owner"]
    fieldsets = [
        (None, {"fields": ["name", "description", "owner", "visibility", "language"]}),
        (
            _("Embeddings (fixed at creation)"),
            {"fields": ["embedding_backend", "embedding_model", "embedding_dimension"]},
        ),
        (_("Chunking"), {"fields": ["chunk_size", "chunk_overlap"]}),
        (_("Ranking"), {"fields": ["bm25_k1", "bm25_b", "rrf_k", "lexical_weight", "vector_weight"]}),
        (_("Statistics"), {"fields": readonly_fields}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: KnowledgeBase | None = None) -> list[str]:
        if obj is not None:
            return [*self.readonly_fields, "owner", *services.knowledge_bases.FIXED_AT_CREATION]
        return list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: KnowledgeBase, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in form.cleaned_data if name != "owner"}
        if change:
            editable = {k: v for k, v in fields.items() if k in services.knowledge_bases.EDITABLE}
            services.knowledge_base_update(kb=obj, actor=request.user, **editable)
        else:
            name = fields.pop("name")
            created = services.knowledge_base_create(
                owner=form.cleaned_data.get("owner") or request.user, name=name, actor=request.user, **fields
            )
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: KnowledgeBase) -> None:
        services.knowledge_base_delete(kb=obj, actor=request.user)

    def get_urls(self) -> list[Any]:
        extra = [path("search/", self.admin_site.admin_view(self.search_view), name="rag_knowledgebase_search")]
        return extra + super().get_urls()

    def search_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = SearchForm(request.GET or None)
        cast(forms.ModelChoiceField, form.fields["knowledge_base"]).queryset = knowledge_bases_readable(
            request.user
        ).order_by("name")
        hits, error = [], ""
        if form.is_bound and form.is_valid():
            kb = form.cleaned_data["knowledge_base"]
            try:
                hits = search(
                    user=request.user,
                    query=form.cleaned_data["query"],
                    knowledge_base_ids=[kb.pk] if kb else None,
                    mode=form.cleaned_data["mode"],
                    k=form.cleaned_data["k"],
                )
            except ApplicationError as exc:
                error = exc.message
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Try a search"),
            "form": form,
            "hits": hits,
            "error": error,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rag/search.html", context)


@admin.register(Document)
class DocumentAdmin(ReadableBasesAdminMixin, BaseModelAdmin):
    permission_read = "rag.read"
    permission_write = "rag.write"
    list_display = ["title", "knowledge_base", "status", "progress_display", "mime_type", "size", "created_at"]
    list_filter = ["status", "mime_type", "source", "knowledge_base"]
    search_fields = ["title", "original_name", "sha256"]
    list_select_related = ["knowledge_base"]
    actions = ["reprocess"]
    readonly_fields = [
        "knowledge_base", "source", "file", "original_name", "mime_type", "size", "sha256", "status", "error",
        "chunks_done", "chunks_total", "attempts", "metadata", "uploaded_by", "created_at", "updated_at",
        "processed_at",
    ]  # fmt: skip
    fields = ["title", "tags", *readonly_fields]

    @admin.display(description=_("Progress"))
    def progress_display(self, obj: Document) -> str:
        return f"{obj.chunks_done}/{obj.chunks_total}"

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Add documents to a base the user may change: upload files, fetch a URL or paste text; each is ingested
        by the same services as the API (deduplicated by content, queued for ingestion)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DocumentAddForm(request.POST or None, request.FILES or None)
        cast(forms.ModelChoiceField, form.fields["knowledge_base"]).queryset = knowledge_bases_writable(
            request.user
        ).order_by("name")
        if request.method == "POST" and form.is_valid():
            results, failures = _add_documents(request.user, form.cleaned_data)
            if results:
                for result in results:
                    level = messages.SUCCESS if result.created else messages.WARNING
                    messages.add_message(
                        request,
                        level,
                        gettext("%(document)s: %(result)s")
                        % {"document": result.document.title, "result": result.message},
                    )
                for failure in failures:  # the other files were added; say which ones were not
                    messages.error(request, failure)
                return redirect("admin:rag_document_changelist")
            for failure in failures:  # nothing was stored: show the form again with the reasons
                form.add_error(None, failure)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Add documents"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rag/document_add.html", context)

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        services.document_delete(document=obj, actor=request.user)

    @admin.action(description=_("Re-process selected documents"), permissions=["change"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        count = 0
        for document in queryset:
            services.document_reprocess(document=document, actor=request.user)
            count += 1
        messages.success(
            request,
            ngettext(
                "Queued %(count)d document for re-processing.", "Queued %(count)d documents for re-processing.", count
            )
            % {"count": count},
        )


def _add_documents(user: Any, data: dict[str, Any]) -> tuple[list[services.documents.UploadResult], list[str]]:
    """Add what the form carries; each file on its own, so that one bad file does not stop the others. Returns the
    results and the reasons for what was refused."""
    kb, tags, title = data["knowledge_base"], data["tags"], data.get("title") or ""
    jobs: list[tuple[str, Callable[[], services.documents.UploadResult]]]
    if data.get("url"):
        jobs = [
            (
                data["url"],
                lambda: services.document_add_url(kb=kb, url=data["url"], title=title, tags=tags, uploaded_by=user),
            )
        ]
    elif data.get("text"):
        jobs = [
            (
                title or "Pasted text",
                lambda: services.document_create_text(
                    kb=kb,
                    title=title or "Pasted text",
                    text=data["text"],
                    tags=tags,
                    uploaded_by=user,
                    source=DocumentSource.TEXT,
                ),
            )
        ]
    else:

        def upload(f: Any) -> services.documents.UploadResult:
            return services.document_upload(kb=kb, filename=f.name, data=f.read(), tags=tags, uploaded_by=user)

        jobs = [(f.name, partial(upload, f)) for f in data["files"]]
    results, failures = [], []
    for label, job in jobs:
        try:
            results.append(job())
        except ApplicationError as exc:
            failures.append(f"{label}: {exc.message}")
    return results, failures


@admin.register(Chunk)
class ChunkAdmin(ReadableBasesAdminMixin, ReadOnlyModelAdmin):
    permission_read = "rag.read"
    list_display = ["__str__", "document", "ordinal", "page", "heading", "token_count"]
    list_filter = ["knowledge_base"]
    search_fields = ["text", "heading"]
    list_select_related = ["document"]
    fields = ["knowledge_base", "document", "ordinal", "page", "heading", "token_count", "lexeme_count", "text"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Chunk]:
        return super().get_queryset(request).defer("embedding", "search_vector")


@admin.register(Answer)
class AnswerAdmin(OwnedObjectsAdminMixin, ReadOnlyModelAdmin):
    """One's own answers; holders of core.audit inspect everyone's."""

    permission_read = "rag.read"
    owner_field = "asked_by"
    manage_permission = "core.audit"
    list_display = ["question", "mode", "model", "asked_by", "latency_ms", "created_at"]
    list_filter = ["mode"]
    search_fields = ["question", "text"]
    fields = ["question", "text", "mode", "model", "asked_by", "citations", "chunk_ids", "latency_ms", "created_at"]
