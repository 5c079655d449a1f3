"""Demo data: the built-in provider and the extractive model, answering from the demo knowledge base."""

from __future__ import annotations

from typing import Any

from .choices import BUILTIN_EXTRACTIVE, ProviderKind
from .knowledge import demo_knowledge_bases
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
    if created:  # later runs keep whatever an administrator attached or detached since
        model.knowledge_bases.add(*demo_knowledge_bases())
    stdout.write(f"chat: {'created' if created else 'kept'} model {model.slug} ({model.knowledge_bases.count()} bases)")
