"""Unknown /api/ and /v1/ paths are a JSON 404 with the error body (OpenAI's shape under /v1/) in every environment,
DEBUG on too; the rest of the site keeps Django's pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def api_404(response: Any, path: str) -> dict[str, Any]:
    assert response.status_code == 404, (path, response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    if path.startswith("/v1/"):
        assert set(error) == {"message", "type", "code", "param"} and error["type"] == "not_found_error"
    else:
        assert set(error) == {"code", "message", "details"}
    assert error["code"] == "not_found"
    return error


@pytest.fixture(params=[True, False], ids=["debug", "no-debug"])
def debug(request: Any, settings: Any) -> bool:
    settings.DEBUG = request.param
    return bool(request.param)


@pytest.mark.parametrize(
    "path",
    [
        "/api/nothing",
        "/api/v1/no-such-system/things/",
        "/api/v2/core/users/",
        "/api/v1/core/api-keys/1/no-such-action/",
        "/v1/nothing",
        "/v1/chat/nope",
        "/v1/embeddings/x",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_unknown_api_path_is_a_json_404(debug, client: Client, path: str, method: str):
    response = client.generic(method.upper(), path, b"{}", content_type="application/json")
    api_404(response, path)


def test_missing_trailing_slash_on_get_still_redirects(debug, client: Client):
    response = client.get("/api/v1/core/roles?x=1")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/core/roles/?x=1"


def test_missing_trailing_slash_on_post_names_the_right_address(debug, client: Client):
    """A redirect would lose the body (and DEBUG's CommonMiddleware raised a 500 here): a 404 that says where."""
    error = api_404(client.post("/api/v1/auth/token", data=b"{}", content_type="application/json"), "/api/v1/auth/x")
    assert error["details"] == {"did_you_mean": "/api/v1/auth/token/"}


def test_known_endpoints_are_unaffected(debug, client: Client):
    assert client.get("/api/v1/core/roles/").status_code == 401
    assert client.get("/v1/models").status_code == 401
    assert client.get("/api/schema/").status_code == 200


def test_other_paths_keep_django_pages(client: Client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
