import pytest

from tests.chat.factories import ChatModelFactory, ProviderFactory
from tests.chat.upstream import FakeUpstream


@pytest.fixture(autouse=True)
def fast_retries(settings, tmp_path):
    settings.CHAT_RETRY_BACKOFF = 0.0
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def provider(db, upstream):
    return ProviderFactory(name="Fake upstream", base_url=upstream.base_url)


@pytest.fixture
def chat_model(provider):
    return ChatModelFactory(slug="gpt-fake", display_name="Fake GPT", provider=provider)


@pytest.fixture
def bearer_for(make_api_key):
    """An API client sending an API key of ``user`` as ``Authorization: Bearer``."""
    from rest_framework.test import APIClient

    def _client(user, **kwargs):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(user, **kwargs)[1]}")
        client.user = user
        return client

    return _client
