"""Writes and checks of providers and models: the provider's address against the SSRF guard, the connection test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext

from apps.core import net
from apps.core.exceptions import Forbidden, ValidationFailed

from .. import gateway
from ..choices import ProviderKind
from ..client import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRefused,
    UpstreamRejected,
    UpstreamTimeout,
    private_upstreams_allowed,
)
from ..models import ChatModel, Provider

PRIVATE_NETWORK_PERM = "core.audit"
"""Who may let a provider reach private addresses (administrators, and superusers)."""


def may_allow_private_network(user: Any) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.has_perm(PRIVATE_NETWORK_PERM)))


def provider_address_check(*, provider: Provider, actor: Any, before: Provider | None = None) -> None:
    """Refuse a provider whose base URL is unusable or resolves to a loopback, private or link-local address unless
    an administrator allowed it (``allow_private_network``) or ``AI_ALLOW_PRIVATE_UPSTREAMS`` is on. Only an
    administrator may turn the flag on, or change the base URL of a provider that has it (``before``: the stored
    provider). A name that does not resolve now is accepted: every call checks the address again."""
    if provider.allow_private_network and not may_allow_private_network(actor):
        newly = before is None or not before.allow_private_network or before.base_url != provider.base_url
        if newly:
            raise Forbidden(
                gettext(
                    "Only an administrator may allow a provider on a private network, or change the address of one."
                ),
                code="private_network_forbidden",
            )
    if provider.kind != ProviderKind.OPENAI_COMPATIBLE or not provider.base_url:
        return
    try:
        url = net.check_url(provider.base_url)
        net.resolve(url, allow_private=bool(provider.allow_private_network) or private_upstreams_allowed())
    except net.URLRefused as exc:
        if exc.code == "url_unreachable":
            return
        raise ValidationFailed(exc.message, code=exc.code, details={"base_url": [exc.message]}) from exc


@dataclass
class ConnectionTest:
    ok: bool
    models: list[str] = field(default_factory=list)
    error: str = ""


def _describe(exc: UpstreamError) -> str:
    """What a connection test says about a failure: the kind of failure and a status, never the upstream's body."""
    if isinstance(exc, UpstreamRefused):
        return "refused: the provider's address is not allowed (loopback, private or link-local)"
    if isinstance(exc, UpstreamTimeout):
        return "unreachable (timed out)"
    if isinstance(exc, (UpstreamRejected, UpstreamRateLimited)) or exc.upstream_status:
        return f"answered HTTP {exc.upstream_status}"
    if exc.code in ("upstream_down", "provider_misconfigured"):
        return "unreachable" if exc.code == "upstream_down" else "misconfigured (a header cannot be sent)"
    return "unusable answer"


def provider_test_connection(*, provider: Provider) -> ConnectionTest:
    """The upstream's model ids, or what went wrong in a few words (the upstream's own text is never repeated)."""
    if provider.kind == ProviderKind.BUILTIN:
        return ConnectionTest(
            ok=True, models=sorted(ChatModel.objects.filter(provider=provider).values_list("slug", flat=True))
        )
    try:
        return ConnectionTest(ok=True, models=gateway.list_upstream_models(provider=provider))
    except UpstreamError as exc:
        return ConnectionTest(ok=False, error=_describe(exc))
