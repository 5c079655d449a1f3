"""Writes and checks of providers and models."""

from __future__ import annotations

from ..choices import ProviderKind
from ..client import OpenAIClient
from ..models import ChatModel, Provider


def provider_test_connection(*, provider: Provider) -> list[str]:
    """The upstream's model ids (raises an upstream error when it cannot be reached)."""
    if provider.kind == ProviderKind.BUILTIN:
        return sorted(ChatModel.objects.filter(provider=provider).values_list("slug", flat=True))
    return OpenAIClient.for_provider(provider).list_models()
