"""Ingestion from URLs: real files served over HTTP on loopback (allowed by RAG_URL_ALLOW_PRIVATE in these tests),
the address guard with the default settings, the API endpoint and the command."""

import io
import ipaddress
import socket
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.exceptions import ValidationFailed
from apps.core.roles import ADMIN, MANAGER, USER
from apps.core.testing import assert_error_body, assert_role_access
from apps.rag.fetching import _is_public
from apps.rag.models import Chunk, Document
from apps.rag.services import document_add_url
from tests.rag.factories import KnowledgeBaseFactory
from tests.rag.loopback import file_server

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "/api/v1/rag"
pytestmark = pytest.mark.django_db

HTML = (FIXTURES / "sample.html").read_bytes()
PDF = (FIXTURES / "sample.pdf").read_bytes()
MARKDOWN = (FIXTURES / "sample.md").read_bytes()
ROUTES = {
    "/manual.html": (200, {"Content-Type": "text/html; charset=utf-8"}, HTML),
    "/files/report": (200, {"Content-Type": "application/pdf"}, PDF),
    "/notes/onboarding.md": (200, {"Content-Type": "application/octet-stream"}, MARKDOWN),
    "/latin1": (200, {"Content-Type": "text/plain; charset=iso-8859-1"}, "Café crème brûlée.".encode("latin-1")),
    "/old": lambda base: (302, {"Location": "/manual.html"}, b""),
    "/away": lambda base: (301, {"Location": f"{base}/old"}, b""),
    "/loop": (302, {"Location": "/loop"}, b""),
    "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
    "/logo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    "/big.txt": (200, {"Content-Type": "text/plain"}, b"word " * 400),
    "/streamed.txt": (200, {"Content-Type": "text/plain", "Content-Length": None}, b"word " * 400),
    "/empty.txt": (200, {"Content-Type": "text/plain"}, b""),
    "/broken": (500, {"Content-Type": "text/plain"}, b"oops"),
}


@pytest.fixture
def server():
    with file_server(ROUTES) as served:
        yield served


@pytest.fixture
def loopback_allowed(settings):
    settings.RAG_URL_ALLOW_PRIVATE = True


def add(kb, url, **kwargs):
    return document_add_url(kb=kb, url=url, **kwargs)


def test_html_page_is_fetched_and_ingested_with_its_url_in_the_metadata(kb, server, loopback_allowed, ingest_url):
    base, requests = server
    document = ingest_url(kb, f"{base}/manual.html")
    assert document.status == "ready", document.error
    assert (document.source, document.title, document.mime_type) == ("url", "Pump manual", "text/html")
    assert document.original_name == "manual.html"
    metadata = document.metadata
    assert metadata["url"] == metadata["final_url"] == f"{base}/manual.html"
    assert metadata["http_status"] == 200 and metadata["content_type"] == "text/html"
    assert metadata["redirects"] == [] and metadata["fetched_at"].endswith("+00:00")
    text = " ".join(Chunk.objects.filter(document=document).values_list("text", flat=True))
    assert "mechanical seal" in text and "do not index me" not in text and "footer" not in text
    assert requests == [("/manual.html", base.removeprefix("http://"))]  # Host header of the URL, not of the address


def test_content_type_chooses_the_extractor_and_the_file_name(kb, server, loopback_allowed, ingest_url):
    base, _ = server
    pdf = ingest_url(kb, f"{base}/files/report")
    assert (pdf.status, pdf.mime_type, pdf.original_name) == ("ready", "application/pdf", "report.pdf")
    assert pdf.title == "report"
    assert pdf.metadata["pages"] == 2
    # a generic content type falls back to the URL's extension
    markdown = ingest_url(kb, f"{base}/notes/onboarding.md")
    assert (markdown.status, markdown.mime_type) == ("ready", "text/markdown")
    assert "Onboarding > Laptop" in set(Chunk.objects.filter(document=markdown).values_list("heading", flat=True))


def test_declared_charset_is_stored_as_utf8(kb, server, loopback_allowed, ingest_url):
    base, _ = server
    document = ingest_url(kb, f"{base}/latin1")
    assert Chunk.objects.get(document=document).text == "Café crème brûlée."
    assert document.original_name == "latin1.txt"


def test_redirects_are_followed_and_recorded(kb, server, loopback_allowed, ingest_url):
    base, _ = server
    document = ingest_url(kb, f"{base}/away")
    assert document.status == "ready"
    assert document.metadata["url"] == f"{base}/away"
    assert document.metadata["final_url"] == f"{base}/manual.html"
    assert document.metadata["redirects"] == [f"{base}/old", f"{base}/manual.html"]


def test_identical_content_is_a_noop_whatever_the_url(kb, server, loopback_allowed, ingest_url):
    base, _ = server
    first = ingest_url(kb, f"{base}/manual.html")
    again = add(kb, f"{base}/old")
    assert again.created is False and again.document == first
    assert "already in this knowledge base" in again.message
    assert Document.objects.filter(knowledge_base=kb).count() == 1


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/missing", "url_http_error", "HTTP 404"),
        ("/broken", "url_http_error", "HTTP 500"),
        ("/loop", "too_many_redirects", "More than 5 redirects"),
        ("/to-file", "invalid_url", "Only http:// and https://"),
        ("/logo.png", "unsupported_type", "Unsupported content type 'image/png'"),
        ("/big.txt", "file_too_large", "larger than the limit"),
        ("/streamed.txt", "file_too_large", "larger than the limit"),
        ("/empty.txt", "empty_document", "empty"),
    ],
)
def test_unusable_urls_are_refused_and_store_nothing(
    kb, server, loopback_allowed, settings, media_root, path, code, message
):
    base, _ = server
    settings.RAG_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(ValidationFailed) as info:
        add(kb, f"{base}{path}")
    assert info.value.code == code
    assert message in info.value.message
    assert not Document.objects.exists()
    assert not (media_root / "rag").exists()


def test_a_server_that_does_not_answer_in_time(kb, loopback_allowed, settings):
    def slow(base):
        time.sleep(1.0)
        return 200, {"Content-Type": "text/plain"}, b"late"

    settings.RAG_URL_TIMEOUT = 0.2
    with file_server({"/slow.txt": slow}) as (base, _), pytest.raises(ValidationFailed) as info:
        add(kb, f"{base}/slow.txt")
    assert info.value.code == "url_timeout" and "did not answer within 0.2 s" in info.value.message


def test_unreachable_host(kb, loopback_allowed):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ValidationFailed) as info:
        add(kb, f"http://127.0.0.1:{port}/page.html")
    assert info.value.code == "url_unreachable"
    with pytest.raises(ValidationFailed) as info:
        add(kb, "http://no-such-host.invalid/page.html")
    assert info.value.code == "url_unreachable" and "could not be resolved" in info.value.message


@pytest.mark.parametrize("url", ["ftp://example.com/a.txt", "file:///etc/passwd", "no url", "http://u:p@example.com/"])
def test_only_plain_http_urls(kb, url):
    with pytest.raises(ValidationFailed) as info:
        add(kb, url)
    assert info.value.code == "invalid_url"


def test_private_addresses_are_refused_by_default_and_never_contacted(kb, server):
    base, requests = server
    port = base.rsplit(":", 1)[1]
    for url in (f"{base}/manual.html", f"http://localhost:{port}/manual.html"):
        with pytest.raises(ValidationFailed) as info:
            add(kb, url)
        assert info.value.code == "url_refused"
        assert "private, loopback or link-local" in info.value.message
    assert requests == []
    for url in (
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ):
        with pytest.raises(ValidationFailed) as info:
            add(kb, url)
        assert info.value.code == "url_refused", url


def test_public_addresses_pass_the_guard():
    assert _is_public(ipaddress.ip_address("93.184.216.34"))
    assert _is_public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    assert not _is_public(ipaddress.ip_address("224.0.0.1"))
    assert not _is_public(ipaddress.ip_address("fd00::1"))


# --- API --------------------------------------------------------------------------------------------------------------


def test_url_endpoint_roles(role_client, role_users, server, loopback_allowed, run_on_commit):
    base, _ = server
    writers = [ADMIN, MANAGER, USER]
    own = {role: KnowledgeBaseFactory(owner=role_users[role], name=f"Web {role}") for role in writers}
    public = KnowledgeBaseFactory(owner=role_users[MANAGER], name="Public web", visibility="everyone")
    run_on_commit(
        assert_role_access,
        role_client,
        "post",
        f"{BASE}/documents/url/",
        writers,
        lambda role: {"knowledge_base": own.get(role, public).pk, "url": f"{base}/manual.html", "tags": ["web"]},
    )
    document = Document.objects.get(knowledge_base=own[USER])
    assert (document.status, document.source, document.tags, document.uploaded_by) == (
        "ready",
        "url",
        ["web"],
        role_users[USER],
    )
    assert not Document.objects.filter(knowledge_base=public).exists()


def test_url_endpoint_answers_and_errors(role_client, role_users, server, loopback_allowed, settings, run_on_commit):
    base, _ = server
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="Web")
    client = role_client(USER)
    url = f"{BASE}/documents/url/"
    response = run_on_commit(
        client.post, url, {"knowledge_base": kb.pk, "url": f"{base}/old", "title": "Pumps"}, format="json"
    )
    assert response.status_code == 202, response.content
    [result] = response.json()["results"]
    assert result["created"] is True and result["document"]["title"] == "Pumps"
    assert result["document"]["metadata"]["final_url"] == f"{base}/manual.html"
    again = client.post(url, {"knowledge_base": kb.pk, "url": f"{base}/manual.html"}, format="json")
    assert again.status_code == 202 and again.json()["results"][0]["created"] is False
    gone = client.post(url, {"knowledge_base": kb.pk, "url": f"{base}/gone"})
    missing = assert_error_body(gone, 400, "url_http_error")
    assert missing["details"]["status"] == 404
    assert_error_body(client.post(url, {"knowledge_base": kb.pk, "url": f"{base}/logo.png"}), 400, "unsupported_type")
    assert_error_body(client.post(url, {"knowledge_base": kb.pk, "url": "gopher://x/"}), 400, "invalid_url")
    assert_error_body(client.post(url, {"knowledge_base": kb.pk}), 400)
    assert_error_body(client.post(url, {"knowledge_base": 999999, "url": f"{base}/manual.html"}), 404)
    settings.RAG_URL_ALLOW_PRIVATE = False
    private = client.post(url, {"knowledge_base": kb.pk, "url": f"{base}/latin1"})
    refused = assert_error_body(private, 400, "url_refused")
    assert refused["details"]["address"] == "127.0.0.1"


# --- command ----------------------------------------------------------------------------------------------------------


def test_rag_ingest_takes_urls_beside_paths(kb, server, loopback_allowed, tmp_path):
    base, _ = server
    (tmp_path / "a.txt").write_text("A local file about valves.")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 failed"):  # the good items are kept; the exit status says one failed
        call_command(
            "rag_ingest", str(tmp_path / "a.txt"), f"{base}/manual.html", f"{base}/missing", "--kb", kb.name,
            stdout=out, stderr=err,
        )  # fmt: skip
    assert "2 ingested, 0 already present, 1 failed" in out.getvalue()
    assert f"{base}/missing: The server answered HTTP 404" in err.getvalue()
    web = Document.objects.get(knowledge_base=kb, source="url")
    assert web.status == "ready" and web.metadata["final_url"] == f"{base}/manual.html"
    with pytest.raises(CommandError, match="Nothing could be ingested"):
        call_command("rag_ingest", f"{base}/logo.png", "--kb", kb.name, stdout=io.StringIO(), stderr=io.StringIO())
