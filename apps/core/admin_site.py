"""Unfold callbacks: the sidebar grouped by system (built from the admin registry, so a new model appears in its
system's group without touching this file) and the environment badge."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

# (group title, icon, app labels) in sidebar order.
SIDEBAR_GROUPS: list[tuple[Any, str, tuple[str, ...]]] = [
    ("ERP", "inventory_2", ("erp",)),
    (_("Knowledge base"), "menu_book", ("rag",)),
    (_("Chat centre"), "forum", ("chat",)),
    (_("Stock trading"), "candlestick_chart", ("stock",)),
    (_("Trend analysis"), "trending_up", ("trend",)),
    (_("Content creation"), "edit_note", ("content",)),
    (_("Task agents"), "smart_toy", ("agents",)),
    (_("Resource management"), "tune", ("resources",)),
    (_("Self-learning"), "school", ("learning",)),
    (_("Security"), "shield_person", ("auth", "core", "token_blacklist", "axes")),
    (_("Scheduling"), "schedule", ("django_celery_beat", "django_celery_results")),
]


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    by_app: dict[str, list[dict[str, Any]]] = {}
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_or_change_permission(request):
            continue
        opts = model._meta
        try:
            link = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        except NoReverseMatch:
            continue
        by_app.setdefault(opts.app_label, []).append(
            {
                "title": capfirst(str(opts.verbose_name_plural)),
                "link": link,
                "icon": getattr(model_admin, "icon", None),
            }
        )
    groups = []
    for title, icon, labels in SIDEBAR_GROUPS:
        items = sorted((item for label in labels for item in by_app.get(label, [])), key=lambda i: i["title"])
        if items:
            for item in items:
                item["icon"] = item["icon"] or icon
            groups.append({"title": title, "separator": True, "collapsible": True, "items": items})
    return groups


def environment_callback(request: HttpRequest) -> list[str]:
    if not settings.DEBUG:
        return [pgettext("environment", "Production"), "danger"]
    return [pgettext("environment", "Development"), "info"]
