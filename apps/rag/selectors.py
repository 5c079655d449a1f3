"""Reads: which knowledge bases a user may read or write, and the documents and chunks inside them."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.translation import gettext
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.core import caching
from apps.core.exceptions import Forbidden, NotFound

from .choices import Visibility
from .models import Chunk, Document, KnowledgeBase


def _granted(user: Any, codenames: tuple[str, ...]) -> Q:
    """Q for bases on which ``user`` (or one of their groups) holds a guardian grant with one of ``codenames``."""
    user_grants = UserObjectPermission.objects.filter(
        user=user,
        permission__codename__in=codenames,
        permission__content_type__app_label="rag",
        permission__content_type__model="knowledgebase",
        object_pk=OuterRef("pk_text"),
    )
    group_grants = GroupObjectPermission.objects.filter(
        group__in=user.groups.all(),
        permission__codename__in=codenames,
        permission__content_type__app_label="rag",
        permission__content_type__model="knowledgebase",
        object_pk=OuterRef("pk_text"),
    )
    return Q(Exists(user_grants)) | Q(Exists(group_grants))


def _with_pk_text(queryset: QuerySet[KnowledgeBase]) -> QuerySet[KnowledgeBase]:
    return queryset.annotate(pk_text=Cast("pk", output_field=CharField()))


def knowledge_bases_readable(user: Any) -> QuerySet[KnowledgeBase]:
    """Bases ``user`` may search and read, narrowed in SQL: own, granted (to the user or a group), or visible to
    everyone (for holders of rag.read). Superusers read everything."""
    queryset = KnowledgeBase.objects.all()
    if not user or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.is_superuser:
        return queryset
    condition = Q(owner=user) | _granted(user, ("view_knowledgebase",))
    if user.has_perm("rag.read"):
        condition |= Q(visibility=Visibility.EVERYONE)
    return _with_pk_text(queryset).filter(condition)


def knowledge_bases_readable_list(user: Any) -> list[KnowledgeBase]:
    """``knowledge_bases_readable`` as a list ordered by id, cached per user until rights or bases change (the
    visibility query with its grant subqueries costs more than a BM25 search of a small base)."""
    return caching.cached(
        f"rag:readable:{getattr(user, 'pk', None)}",
        [caching.AUTH, caching.model_namespace(KnowledgeBase)],
        lambda: list(knowledge_bases_readable(user).order_by("pk")),
    )


def knowledge_bases_writable(user: Any) -> QuerySet[KnowledgeBase]:
    """Bases ``user`` may change (upload, delete documents, edit settings): own or granted change."""
    queryset = KnowledgeBase.objects.all()
    if not user or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.is_superuser:
        return queryset
    return _with_pk_text(queryset).filter(Q(owner=user) | _granted(user, ("change_knowledgebase",)))


def knowledge_base_for_write(*, user: Any, kb_id: Any) -> KnowledgeBase:
    """The base to write into: 404 when the caller may not read it, 403 when they may read but not write."""
    try:
        pk = int(kb_id)
    except (TypeError, ValueError) as exc:
        raise NotFound(gettext("Knowledge base not found.")) from exc
    kb = knowledge_bases_writable(user).filter(pk=pk).first()
    if kb is not None:
        return kb
    if knowledge_bases_readable(user).filter(pk=pk).exists():
        raise Forbidden(gettext("You may read this knowledge base but not change it."))
    raise NotFound(gettext("Knowledge base not found."))


def can_manage(user: Any, kb: KnowledgeBase) -> bool:
    """Owner, superuser, or a 'manage' grant (delete) may delete the base and change its sharing."""
    return bool(user.is_superuser or kb.owner_id == user.pk or user.has_perm("rag.delete_knowledgebase", kb))


def documents_readable(user: Any) -> QuerySet[Document]:
    return Document.objects.filter(knowledge_base__in=knowledge_bases_readable(user).values("pk"))


def chunks_readable(user: Any) -> QuerySet[Chunk]:
    return Chunk.objects.filter(knowledge_base__in=knowledge_bases_readable(user).values("pk"))
