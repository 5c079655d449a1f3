"""Every request body over the limit is a 413 with the error body (OpenAI's shape under /v1/), on every endpoint,
before anything is parsed: never a 500 from Django's DATA_UPLOAD_MAX_MEMORY_SIZE inside DRF.

Limits: DATA_UPLOAD_MAX_MEMORY_SIZE (10 MiB) for JSON, forms and raw bodies; AISTACK_MAX_BODY_BYTES (52 MiB) for
multipart uploads, whose text fields are still held to the 10 MiB limit while parsing."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from apps.chat import openai_urls
from apps.core.models import AuditLog

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
WRITE_METHODS = ("post", "put", "patch")


def assert_too_large(response: Any, path: str) -> dict[str, Any]:
    assert response.status_code == 413, (path, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    if path.startswith("/v1/"):
        assert set(error) == {"message", "type", "code", "param"}, error
    else:
        assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == "payload_too_large"
    return error


def json_body(size: int) -> bytes:
    """A valid JSON object of exactly ``size`` bytes."""
    head, tail = b'{"name": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def multipart_body(*, text_field: int = 0, file_size: int = 0) -> tuple[bytes, str]:
    boundary = "----aistack-test-boundary"
    parts = []
    if text_field:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="tags"\r\n\r\n'.encode()
        parts.append(head + b"t" * text_field + b"\r\n")
    if file_size:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\n".encode()
            + b"f" * file_size
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@cache
def write_operations() -> tuple[tuple[str, str], ...]:
    """(method, concrete path) of every write operation in the OpenAPI schema, path parameters filled with 1, and
    every route of the OpenAI-compatible /v1/ API (left out of the schema) as a POST."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for template, operations in schema["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        found.extend((method, path) for method in operations if method in WRITE_METHODS)
    found.extend(("post", "/v1/" + re.sub(r"<[^>]+>", "1", str(p.pattern))) for p in openai_urls.urlpatterns)
    return tuple(sorted(found))


def test_the_schema_lists_the_endpoints_the_probe_named():
    paths = {path for _method, path in write_operations()}
    assert {"/api/v1/auth/token/", "/api/v1/erp/customers/", "/api/v1/rag/documents/", "/v1/chat/completions"} <= paths
    assert len(paths) > 50


# --- The probe's cases, at the real limits --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10 * MiB + 1, 11 * MiB, 52 * MiB + 1])
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_anonymous_token_request_over_the_limit_is_a_413(client: Client, size: int, content_type: str):
    response = client.post("/api/v1/auth/token/", data=json_body(size), content_type=content_type)
    error = assert_too_large(response, "/api/v1/auth/token/")
    assert error["details"] == {"limit": 10 * MiB, "size": size}


def test_a_body_at_the_limit_is_parsed(client: Client):
    response = client.post("/api/v1/auth/token/", data=json_body(10 * MiB), content_type="application/json")
    assert response.status_code == 400  # parsed, and refused for missing credentials


@pytest.mark.parametrize(
    "path", ["/api/v1/erp/customers/", "/api/v1/rag/search/", "/api/v1/rag/documents/text/", "/v1/chat/completions"]
)
def test_authenticated_requests_over_the_limit_are_a_413(role_client, path: str):
    client = role_client("admin")
    response = client.generic("POST", path, json_body(11 * MiB), content_type="application/json")
    assert_too_large(response, path)


def test_multipart_text_field_over_the_form_limit_is_a_413(role_client):
    """The whole upload is under 52 MiB, so it gets in; its text field is over 10 MiB and is found while parsing."""
    body, content_type = multipart_body(text_field=10 * MiB + 1, file_size=10)
    response = role_client("admin").generic("POST", "/api/v1/rag/documents/", body, content_type=content_type)
    error = assert_too_large(response, "/api/v1/rag/documents/")
    assert error["details"]["limit"] == 10 * MiB


def test_multipart_upload_over_the_whole_limit_is_a_413(role_client):
    body, content_type = multipart_body(file_size=52 * MiB + 1)
    response = role_client("admin").generic("POST", "/api/v1/rag/documents/", body, content_type=content_type)
    assert assert_too_large(response, "/api/v1/rag/documents/")["details"]["limit"] == 52 * MiB


def test_multipart_file_between_the_limits_is_not_refused_for_size(role_client):
    """A 12 MiB file (over the form limit, under the upload limit) reaches the view: the limit on text fields does not
    apply to files."""
    body, content_type = multipart_body(file_size=12 * MiB)
    response = role_client("admin").generic("POST", "/api/v1/rag/documents/", body, content_type=content_type)
    assert response.status_code == 400  # no knowledge base named: a validation error, not a size refusal
    assert "knowledge_base" in response.json()["error"]["details"]


@pytest.mark.parametrize("length", ["lots", "-5", "1e9", "\uff11\uff12"])
def test_content_length_that_is_not_a_plain_number_is_a_400(client: Client, length: str):
    response = client.post("/api/v1/auth/token/", data=b"{}", content_type="application/json", CONTENT_LENGTH=length)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


# --- Every write endpoint, at several sizes (lowered limits keep the bodies small) ------------------------------------

SMALL_FORM_LIMIT, SMALL_WHOLE_LIMIT = 2048, 8192


@pytest.fixture
def small_limits(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = SMALL_FORM_LIMIT
    settings.AISTACK_MAX_BODY_BYTES = SMALL_WHOLE_LIMIT


@pytest.mark.parametrize(("method", "path"), write_operations())
def test_every_write_endpoint_refuses_oversized_bodies(small_limits, client: Client, method: str, path: str):
    send = getattr(client, method)
    for size in (SMALL_FORM_LIMIT + 1, 3 * SMALL_FORM_LIMIT, SMALL_WHOLE_LIMIT + 1):
        for content_type in ("application/json", "application/x-www-form-urlencoded", "text/plain"):
            assert_too_large(send(path, data=json_body(size), content_type=content_type), path)
    body, content_type = multipart_body(file_size=SMALL_WHOLE_LIMIT + 1)
    assert_too_large(send(path, data=body, content_type=content_type), path)
    # the control: a small body is not refused for its size
    assert send(path, data=json_body(64), content_type="application/json").status_code != 413


def test_oversized_refusals_happen_before_authentication(small_limits, client: Client):
    """Nothing behind the limit runs: no authentication attempt (and so no audit entry) for a bad key."""
    response = client.post(
        "/api/v1/core/api-keys/",
        data=json_body(SMALL_FORM_LIMIT + 1),
        content_type="application/json",
        HTTP_X_API_KEY="ask_nope_" + "x" * 40,
    )
    assert_too_large(response, "/api/v1/core/api-keys/")
    assert not AuditLog.objects.filter(action="auth_failed").exists()


def test_defaults_are_the_documented_limits():
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 10 * MiB
    assert django_settings.AISTACK_MAX_BODY_BYTES == 52 * MiB
