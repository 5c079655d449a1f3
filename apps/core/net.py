"""The SSRF guard: every outbound URL of the suite (documents fetched for the knowledge base, LLM providers) goes
through it.

- http and https only, with a host name and without credentials in the URL (``check_url``);
- every address the host name resolves to must be public unless private ones are allowed: no loopback, private,
  link-local (169.254.169.254, the cloud metadata service), carrier-grade NAT, multicast or reserved addresses, so
  the server cannot be made into a way into its own network (``resolve``);
- the connection goes to the address that was checked (``Guard.pin``): the name is not resolved a second time, so a
  DNS answer cannot change between the check and the connection; the Host header and the TLS server name (SNI, and
  so the certificate check) keep the host name;
- redirects are followed one hop at a time, each hop checked the same way (``stream_following_redirects``).

Refusals raise ``URLRefused`` (a 400 ``ValidationFailed``) or the caller's subclass of ``ApplicationError``.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from django.utils.translation import gettext

from .exceptions import ApplicationError, ValidationFailed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class URLRefused(ValidationFailed):
    """The URL is not acceptable, or its host resolves to an address the guard refuses."""

    default_code = "url_refused"


def check_url(url: str, *, error: type[ApplicationError] = URLRefused) -> httpx.URL:
    """The URL parsed, or ``error`` (code ``invalid_url``) saying why it is not acceptable; the addresses are
    checked when connecting."""
    try:
        parsed = httpx.URL(str(url).strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise error(gettext("This is not a valid URL."), code="invalid_url", details={"url": url}) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise error(
            gettext("Only http:// and https:// URLs with a host name can be used."),
            code="invalid_url",
            details={"url": url},
        )
    if parsed.userinfo:
        raise error(gettext("URLs with a user name or password are not accepted."), code="invalid_url")
    return parsed


def is_public(address: Address) -> bool:
    """A globally routable unicast address (an IPv4-mapped IPv6 address is judged as the IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(url: httpx.URL, *, allow_private: bool = False, error: type[ApplicationError] = URLRefused) -> str:
    """The address to connect to for ``url``: every address of the host must be public unless ``allow_private``
    (code ``url_refused``); a name that does not resolve is code ``url_unreachable``."""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(url.raw_host.decode("ascii"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise error(
            gettext("The host '%(host)s' could not be resolved.") % {"host": url.host},
            code="url_unreachable",
            details={"host": url.host},
        ) from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    if not allow_private:
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            raise error(
                gettext(
                    "The host '%(host)s' resolves to a private, loopback or link-local address (%(address)s); "
                    "connecting to it is not allowed."
                )
                % {"host": url.host, "address": refused[0]},
                code="url_refused",
                details={"host": url.host, "address": str(refused[0])},
            )
    return str(min(addresses, key=lambda address: address.version))  # IPv4 first: reachable from more networks


@dataclass(frozen=True)
class Guard:
    """Checks and pins one outbound connection; ``allow_private`` opens private addresses (an intranet server, a
    model server on the same host) where an administrator allowed it."""

    allow_private: bool = False
    error: type[ApplicationError] = URLRefused

    def pin(self, url: str | httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """The URL with its host replaced by the checked address, the Host header and the request extensions
        (the TLS server name) to send with it."""
        parsed = check_url(str(url), error=self.error)
        address = resolve(parsed, allow_private=self.allow_private, error=self.error)
        extensions = {"sni_hostname": parsed.raw_host.decode("ascii")} if parsed.scheme == "https" else {}
        return parsed.copy_with(host=address), {"Host": parsed.netloc.decode("ascii")}, extensions


def guarded_client(**kwargs: Any) -> httpx.Client:
    """An httpx client for guarded requests: no proxy from the environment (the connection must go to the checked
    address), no redirects followed by httpx, no kept-alive connections reused for another host."""
    return httpx.Client(
        follow_redirects=False, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0), **kwargs
    )


@contextmanager
def stream_following_redirects(
    http: httpx.Client,
    url: str,
    *,
    guard: Guard,
    max_redirects: int,
    deadline: float,
    headers: dict[str, str] | None = None,
) -> Iterator[tuple[httpx.Response, httpx.URL, list[str]]]:
    """GET ``url`` as a stream, following redirects one hop at a time, each hop checked and pinned; yields the
    final response (body unread), its URL and the redirects followed. httpx errors (timeouts included, the
    ``deadline`` being a ``time.monotonic()`` value) are the caller's to handle; too many redirects is
    ``guard.error`` with code ``too_many_redirects``."""
    current = check_url(url, error=guard.error)
    redirects: list[str] = []
    for _ in range(max_redirects + 1):
        target, host_header, extensions = guard.pin(current)
        left = deadline - time.monotonic()
        if left <= 0:
            raise httpx.ConnectTimeout("deadline")
        with http.stream(
            "GET", target, headers={**(headers or {}), **host_header}, extensions=extensions, timeout=left
        ) as response:
            if response.is_redirect and response.headers.get("Location"):
                current = check_url(str(current.join(response.headers["Location"])), error=guard.error)
                redirects.append(str(current))
                continue
            yield response, current, redirects
            return
    raise guard.error(
        gettext("More than %(count)s redirects.") % {"count": max_redirects},
        code="too_many_redirects",
        details={"redirects": redirects},
    )
