"""Shared fixtures: one user per role, API clients authenticated as them, JWT and API-key helpers."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.translation.reloader import translation_file_changed
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.locale_compile import catalogue_compile
from apps.core.roles import ROLES
from apps.core.services import api_key_create
from tests.core.factories import UserFactory

ROLE_NAMES = list(ROLES)

# A fresh clone has only the .po catalogues: compile them before any test asks for a translation.
if catalogue_compile(locale_dirs=settings.LOCALE_PATHS):
    translation_file_changed(sender=None, file_path=Path("django.mo"))


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Each test starts with an empty cache: rolled-back tests reuse ids, so cached reads must not outlive a test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts in the default language: a request in Chinese (LocaleMiddleware, a user's preference) leaves
    its language active on the thread, as Django does, and a later test calling services directly would see it."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    def _make(role: str | None = None, **kwargs: object) -> object:
        return UserFactory(role=role, **kwargs)

    return _make


@pytest.fixture
def role_users(db) -> dict[str, object]:
    """One user per role, named after it."""
    return {role: UserFactory(username=f"{role}-user", role=role) for role in ROLE_NAMES}


@pytest.fixture
def client_for(db) -> Callable[[object], APIClient]:
    """An APIClient sending a real JWT access token for ``user``."""

    def _client(user: object) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        return client

    return _client


@pytest.fixture
def role_client(role_users, client_for) -> Callable[[str], APIClient]:
    """``role_client("manager")``: a JWT-authenticated client for that role's user."""
    return lambda role: client_for(role_users[role])


@pytest.fixture
def make_api_key(db) -> Callable[..., tuple[object, str]]:
    def _make(owner: object, name: str = "test key", **kwargs: object) -> tuple[object, str]:
        return api_key_create(owner=owner, name=name, **kwargs)

    return _make


@pytest.fixture
def fake_llm(settings):
    """A fake OpenAI-compatible LLM on loopback (apps.core.testing.fake_llm), reachable: private upstreams allowed."""
    from apps.core.testing.fake_llm import FakeLLM

    settings.AI_ALLOW_PRIVATE_UPSTREAMS = True
    settings.HTTP_RETRY_BACKOFF = 0.0
    with FakeLLM() as server:
        yield server
