"""Demo data: the built-in provider and the extractive model, answering from the knowledge bases open to everyone."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from .choices import BUILTIN_EXTRACTIVE, ProviderKind
from .models import ChatModel, Provider


def seed(*, stdout: Any) -> None:
    provider, _ = Provider.objects.get_or_create(
        name="AI Stack built-in", defaults={"kind": ProviderKind.BUILTIN, "base_url": "", "timeout": 60.0}
    )
    model, created = ChatModel.objects.get_or_create(
        slug=BUILTIN_EXTRACTIVE,
        defaults={
            "display_name": "AI Stack extractive (knowledge base, no LLM)",
            "provider": provider,
            "upstream_model": "",
            "tools": [],
        },
    )
    admin = get_user_model().objects.filter(username="admin").first()
    if admin is not None:
        from apps.rag.selectors import knowledge_bases_readable

        model.knowledge_bases.add(*knowledge_bases_readable(admin).filter(visibility="everyone"))
    stdout.write(f"chat: {'created' if created else 'kept'} model {model.slug} ({model.knowledge_bases.count()} bases)")
