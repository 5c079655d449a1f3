from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """?page= and ?page_size= (default 50, max 200); refuses unordered querysets so pages are stable."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any] | None:
        if isinstance(queryset, QuerySet) and not queryset.ordered:
            raise ImproperlyConfigured(f"{view.__class__.__name__} paginates an unordered queryset; add an ordering.")
        return super().paginate_queryset(queryset, request, view)
