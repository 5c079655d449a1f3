"""Fetching a document from a URL for ingestion, through the platform's SSRF guard (apps.core.net):

- http and https only, without credentials in the URL;
- every address the host name resolves to must be public unless ``RAG_URL_ALLOW_PRIVATE`` (no loopback, private,
  link-local, carrier-grade NAT, multicast or reserved addresses: the server must not become a way into its own
  network), and the connection goes to the address that was checked (the name is not resolved a second time, so a
  DNS answer cannot change between the check and the connection); the TLS certificate is still verified against
  the host name;
- redirects are followed one by one, each hop checked the same way, at most ``RAG_URL_MAX_REDIRECTS``;
- the body is streamed and refused beyond the upload size limit, the whole fetch bounded by ``RAG_URL_TIMEOUT``;
- the response's content type chooses the extractor (the URL's file extension when the type is generic).
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

import httpx
from django.utils.translation import gettext

from apps.core import net
from apps.core.exceptions import ValidationFailed

from . import conf
from .extraction import MIME_BY_EXTENSION, ExtractionError, html_title

USER_AGENT = "AIStack-KnowledgeBase/1.0 (document fetcher)"

# Response content types the extractors read, by the MIME type the extractor is registered under.
MIME_BY_CONTENT_TYPE = {
    "text/html": "text/html",
    "application/xhtml+xml": "text/html",
    "text/plain": "text/plain",
    "text/markdown": "text/markdown",
    "text/x-markdown": "text/markdown",
    "application/pdf": "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    "text/csv": "text/csv",
    "application/csv": "text/csv",
    "application/json": "application/json",
    "application/x-ndjson": "application/x-ndjson",
    "application/jsonl": "application/x-ndjson",
}
GENERIC_CONTENT_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/binary"}
EXTENSION_BY_MIME = {
    "text/html": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/csv": ".csv",
    "application/json": ".json",
    "application/x-ndjson": ".jsonl",
}


class FetchError(ValidationFailed):
    """The URL cannot be fetched or its content cannot be used."""

    default_code = "url_unusable"


@dataclass
class Fetched:
    url: str
    final_url: str
    data: bytes
    mime_type: str
    filename: str
    title: str
    status: int
    content_type: str
    redirects: list[str] = field(default_factory=list)
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def metadata(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "final_url": self.final_url,
            "fetched_at": self.fetched_at.isoformat(),
            "http_status": self.status,
            "content_type": self.content_type,
            "redirects": self.redirects,
        }


def check_url(url: str) -> httpx.URL:
    """The URL parsed, or a FetchError saying why it is not acceptable (the address is checked when fetching)."""
    return net.check_url(url, error=FetchError)


_is_public = net.is_public


def _guard() -> net.Guard:
    return net.Guard(allow_private=conf.url_allow_private(), error=FetchError)


def _mime(content_type: str, path: str) -> str:
    mime = MIME_BY_CONTENT_TYPE.get(content_type)
    if mime is None and content_type in GENERIC_CONTENT_TYPES:
        mime = MIME_BY_EXTENSION.get(PurePosixPath(path).suffix.lower())
    if mime is None:
        supported = ", ".join(sorted(MIME_BY_CONTENT_TYPE))
        raise ExtractionError(
            gettext("Unsupported content type '%(type)s'. Supported: %(supported)s.")
            % {"type": content_type or "none", "supported": supported},
            code="unsupported_type",
            details={"content_type": content_type},
        )
    return mime


def _filename(url: httpx.URL, mime: str) -> str:
    name = unquote(PurePosixPath(url.path).name) or url.host
    stem, suffix = PurePosixPath(name).stem or url.host, PurePosixPath(name).suffix.lower()
    return name if MIME_BY_EXTENSION.get(suffix) == mime else stem + EXTENSION_BY_MIME[mime]


def _as_utf8(data: bytes, charset: str | None) -> bytes:
    """Text declared in another charset (Content-Type) is stored as UTF-8, which the extractors read first."""
    if not charset:
        return data
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        return data
    if codec in ("utf-8", "utf-8-sig"):
        return data
    return data.decode(codec, errors="replace").encode("utf-8")


def _too_large(limit: int, size: int | None = None) -> FetchError:
    return FetchError(
        gettext("The document is larger than the limit of %(limit)s MB.") % {"limit": limit // (1024 * 1024)},
        code="file_too_large",
        details={"limit": limit, "size": size},
    )


def fetch_url(url: str) -> Fetched:
    """Fetch ``url`` with the checks described in the module; raises FetchError (or ExtractionError for an
    unsupported content type) with a readable message."""
    current = check_url(url)
    limit, timeout = conf.max_upload_bytes(), conf.url_timeout()
    deadline = time.monotonic() + timeout
    with net.guarded_client(headers={"User-Agent": USER_AGENT}) as client:
        try:
            with net.stream_following_redirects(
                client, str(current), guard=_guard(), max_redirects=conf.url_max_redirects(), deadline=deadline
            ) as (response, current, redirects):
                if response.status_code >= 400:
                    raise FetchError(
                        gettext("The server answered HTTP %(status)s for %(url)s.")
                        % {"status": response.status_code, "url": current},
                        code="url_http_error",
                        details={"url": str(current), "status": response.status_code},
                    )
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                mime = _mime(content_type, current.path)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise _too_large(limit, int(declared))
                body = bytearray()
                for part in response.iter_bytes():
                    body += part
                    if len(body) > limit:
                        raise _too_large(limit)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("deadline")
                data = bytes(body)
                if mime.startswith("text/"):
                    data = _as_utf8(data, response.charset_encoding)
                filename = _filename(current, mime)
                title = (html_title(data) if mime == "text/html" else "") or PurePosixPath(filename).stem
                return Fetched(
                    url=str(url).strip(),
                    final_url=str(current),
                    data=data,
                    mime_type=mime,
                    filename=filename,
                    title=title,
                    status=response.status_code,
                    content_type=content_type,
                    redirects=redirects,
                )
        except httpx.TimeoutException as exc:
            raise FetchError(
                gettext("%(host)s did not answer within %(timeout)s s.")
                % {"host": current.host, "timeout": f"{timeout:g}"},
                code="url_timeout",
                details={"url": url},
            ) from exc
        except httpx.HTTPError as exc:
            raise FetchError(
                gettext("%(url)s could not be fetched (%(error)s).")
                % {"url": current, "error": f"{exc.__class__.__name__}: {exc}"},
                code="url_unreachable",
                details={"url": str(current)},
            ) from exc
