import pytest

from tests.chat.factories import ChatModelFactory, ProviderFactory


@pytest.fixture(autouse=True)
def fast_retries(settings, tmp_path):
    """No backoff between retries; upstreams on loopback are allowed (the SSRF tests turn this off)."""
    settings.HTTP_RETRY_BACKOFF = 0.0
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = True
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def upstream(fake_llm):
    """The fake LLM (apps.core.testing.fake_llm) playing the provider's upstream."""
    return fake_llm


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
