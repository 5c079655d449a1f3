"""What the schema fuzzing found, one regression each (part of `make test`; the fuzzing itself is `make fuzz`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from apps.core.models import AuditLog
from apps.rag.services import document_create_text, knowledge_base_create
from apps.stock.models import AutoTrader
from tests.stock.factories import InstrumentFactory, PortfolioFactory, StrategyFactory

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _responses(schema: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return schema["paths"][path][method]["responses"]


def test_error_responses_are_documented(schema) -> None:
    """Every operation documents the errors it gives, as the error body in JSON (the fuzzer found 4xx answers the
    schema did not list, on every operation)."""
    detail = _responses(schema, "get", "/api/v1/erp/customers/{id}/")
    assert {"200", "401", "403", "404", "429"} <= set(detail)
    assert detail["404"]["content"] == {"application/json": {"schema": ERROR_REF}}
    assert {"400", "401", "403", "404", "409", "413", "415", "429"} <= set(
        _responses(schema, "post", "/api/v1/erp/customers/")
    )
    assert "409" in _responses(schema, "delete", "/api/v1/erp/customers/{id}/")
    # a list: a page past the end is 404; a report: ?format= it does not render is 404
    assert "404" in _responses(schema, "get", "/api/v1/erp/customers/")
    assert "404" in _responses(schema, "get", "/api/v1/erp/reports/trial-balance/")
    # an SVG chart still gives its errors as JSON
    assert set(_responses(schema, "get", "/api/v1/stock/backtests/{id}/chart/")["404"]["content"]) == {
        "application/json"
    }
    # signing in is public: no 403
    assert "403" not in _responses(schema, "post", "/api/v1/auth/token/")
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message", "details"}


def test_an_error_body_is_what_the_schema_documents(role_client, schema) -> None:
    response = role_client("guest").get("/api/v1/erp/customers/999999/")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == set(schema["components"]["schemas"]["Error"]["properties"])
    assert set(body["error"]) == set(schema["components"]["schemas"]["ErrorDetail"]["properties"])


def test_a_document_without_uploader_is_documented_as_null(role_users, role_client, schema) -> None:
    """A document added by no user (a command, a URL fetched by a task) has uploaded_by null."""
    owner = role_users["user"]
    kb = knowledge_base_create(owner=owner, name="No uploader")
    document_create_text(kb=kb, title="Loaded by a command", text="Some text.", uploaded_by=None, enqueue=False)
    response = role_client("user").get("/api/v1/rag/documents/", {"knowledge_base_id": kb.pk})
    assert response.status_code == 200
    assert [row["uploaded_by"] for row in response.json()["results"]] == [None]
    assert schema["components"]["schemas"]["Document"]["properties"]["uploaded_by"]["nullable"] is True


def test_an_autotrader_that_never_ran_has_an_empty_outcome_in_the_schema(role_users, role_client, schema) -> None:
    owner = role_users["user"]
    trader = AutoTrader.objects.create(
        owner=owner,
        portfolio=PortfolioFactory(owner=owner),
        strategy=StrategyFactory(owner=owner),
        instrument=InstrumentFactory(),
        quantity=Decimal("1"),
    )
    response = role_client("user").get(f"/api/v1/stock/autotraders/{trader.pk}/")
    assert response.status_code == 200
    assert response.json()["last_outcome"] == ""
    field = schema["components"]["schemas"]["AutoTrader"]["properties"]["last_outcome"]
    choices = [ref["$ref"].rsplit("/", 1)[1] for ref in field["oneOf"]]
    assert "BlankEnum" in choices
    assert schema["components"]["schemas"]["BlankEnum"]["enum"] == [""]


def test_an_inactive_user_can_be_created(role_client) -> None:
    """POST /api/v1/core/users/ with is_active (a field the serializer takes) was a 500."""
    response = role_client("admin").post(
        "/api/v1/core/users/", {"username": "starts-inactive", "is_active": False, "roles": ["guest"]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["is_active"] is False
    user = get_user_model().objects.get(username="starts-inactive")
    assert not user.is_active
    assert [g.name for g in user.groups.all()] == ["guest"]
    assert AuditLog.objects.filter(target_type="auth.user", target_id=str(user.pk), action="create").exists()


def test_an_unknown_symbol_for_an_indicator_is_a_documented_404(role_client, schema) -> None:
    response = role_client("guest").get("/api/v1/stock/indicators/", {"symbol": "NOPE", "name": "rsi"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_symbol"
    assert "404" in _responses(schema, "get", "/api/v1/stock/indicators/")


def test_an_upload_with_too_many_files_is_refused_not_a_server_error(role_users, role_client) -> None:
    """A multipart body with more files than DATA_UPLOAD_MAX_NUMBER_FILES was a 500; now a 400 with the error body,
    and nothing is stored."""
    kb = knowledge_base_create(owner=role_users["user"], name="Many files")
    files = [SimpleUploadedFile(f"note-{n}.txt", b"text", content_type="text/plain") for n in range(101)]
    response = role_client("user").post(
        "/api/v1/rag/documents/", {"knowledge_base_id": kb.pk, "file": files}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "too_many_parts"
    assert not kb.documents.exists()
