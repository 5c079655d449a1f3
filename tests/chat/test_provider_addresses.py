"""Providers and the SSRF guard: a provider at a loopback, private or link-local address is refused when it is saved
and when it is called, unless an administrator allowed it; connection tests never echo what the upstream said."""

import socket

import pytest

from apps.chat.models import Provider, UsageRecord
from apps.chat.services import Completion
from apps.chat.tools import ToolContext
from apps.core.testing import assert_error_body
from apps.core.testing.fake_llm import raw
from tests.chat.factories import ChatModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db
PROVIDERS = "/api/v1/chat/providers/"


@pytest.fixture(autouse=True)
def private_refused(settings):
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = False


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://localhost:6379/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/v1",
        "http://[::1]:8000/v1",
        "http://100.64.1.1/v1",
    ],
)
def test_a_manager_cannot_create_a_provider_at_a_private_address(role_client, url):
    response = role_client("manager").post(PROVIDERS, {"name": "probe", "base_url": url}, format="json")
    error = assert_error_body(response, 400, "url_refused")
    assert "base_url" in error["details"]
    assert not Provider.objects.filter(name="probe").exists()


def test_public_and_unresolvable_names_are_accepted_at_save(role_client):
    client = role_client("manager")
    assert (
        client.post(PROVIDERS, {"name": "pub", "base_url": "http://93.184.216.34/v1"}, format="json").status_code == 201
    )
    # a name that does not resolve yet is checked again at every call
    later = client.post(PROVIDERS, {"name": "later", "base_url": "http://llm.invalid/v1"}, format="json")
    assert later.status_code == 201


def test_only_an_administrator_may_allow_a_private_network(role_client, fake_llm, settings):
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = False
    data = {"name": "local", "base_url": fake_llm.base_url, "allow_private_network": True}
    assert_error_body(role_client("manager").post(PROVIDERS, data, format="json"), 403, "private_network_forbidden")
    created = role_client("admin").post(PROVIDERS, data, format="json")
    assert created.status_code == 201 and created.json()["allow_private_network"] is True
    url = f"{PROVIDERS}{created.json()['id']}/"
    manager = role_client("manager")
    # a manager may still rename it, but not point it somewhere else on the private network
    assert manager.patch(url, {"name": "local llm"}, format="json").status_code == 200
    moved = manager.patch(url, {"base_url": "http://127.0.0.1:5432/"}, format="json")
    assert_error_body(moved, 403, "private_network_forbidden")
    # and the test connection reaches it
    test = manager.post(f"{url}test-connection/").json()
    assert test == {"ok": True, "models": ["other-model", "up-model"], "error": ""}


def test_the_setting_allows_every_provider_on_a_private_network(role_client, settings, fake_llm):
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = True
    response = role_client("manager").post(PROVIDERS, {"name": "dev", "base_url": fake_llm.base_url}, format="json")
    assert response.status_code == 201


def test_a_private_address_is_refused_at_call_time_and_never_contacted(fake_llm, make_user, settings, role_client):
    """The address is checked again at every call (DNS may change after the provider was saved)."""
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = False
    provider = ProviderFactory(base_url=fake_llm.base_url)  # stored as if its name had resolved to a public address
    model = ChatModelFactory(provider=provider)
    done = Completion(
        ctx=ToolContext(user=make_user(role="user")), model=model, messages=[{"role": "user", "content": "hi"}]
    )
    done.run()
    assert done.result.error.code == "upstream_address_refused"
    assert fake_llm.requests == []
    assert UsageRecord.objects.get().outcome == "upstream_address_refused"
    body = role_client("admin").post(f"{PROVIDERS}{provider.pk}/test-connection/").json()
    assert body["ok"] is False and body["error"].startswith("refused")
    assert fake_llm.requests == []


def test_a_connection_test_does_not_tell_open_from_closed_private_ports(role_client, fake_llm, settings):
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = False
    open_port = ProviderFactory(base_url=fake_llm.base_url)
    closed_port = ProviderFactory(base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    metadata = ProviderFactory(base_url="http://169.254.169.254/latest")
    client = role_client("admin")
    answers = {
        client.post(f"{PROVIDERS}{p.pk}/test-connection/").json()["error"] for p in (open_port, closed_port, metadata)
    }
    assert len(answers) == 1 and next(iter(answers)).startswith("refused")
    assert fake_llm.requests == []


def test_a_connection_test_never_echoes_the_upstreams_body(role_client, fake_llm, settings):
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = True
    fake_llm.models_reply = raw(404, b"<html><title>Internal admin</title>SECRET-TOKEN-123</html>")
    provider = ProviderFactory(base_url=fake_llm.base_url)
    response = role_client("admin").post(f"{PROVIDERS}{provider.pk}/test-connection/")
    assert response.json() == {"ok": False, "models": [], "error": "answered HTTP 404"}
    assert b"SECRET" not in response.content and b"Internal admin" not in response.content
    fake_llm.models_reply = raw(200, b"<html>SECRET-TOKEN-123</html>")
    response = role_client("admin").post(f"{PROVIDERS}{provider.pk}/test-connection/")
    assert response.json()["error"] == "unusable answer" and b"SECRET" not in response.content
    down = ProviderFactory(base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    assert role_client("admin").post(f"{PROVIDERS}{down.pk}/test-connection/").json()["error"] == "unreachable"


def test_the_admin_form_refuses_private_addresses_and_hides_the_flag_from_managers(admin_client, client):
    from tests.core.factories import UserFactory

    response = admin_client.post(
        "/admin/chat/provider/add/",
        {"name": "meta", "kind": "openai-compatible", "base_url": "http://169.254.169.254/", "extra_headers": "{}",
         "timeout": "5", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 200 and b"private, loopback or link-local" in response.content
    assert not Provider.objects.filter(name="meta").exists()
    client.force_login(UserFactory(role="manager", is_staff=True))
    page = client.get("/admin/chat/provider/add/")
    assert page.status_code == 200 and b'name="allow_private_network"' not in page.content
    assert b'name="allow_private_network"' in admin_client.get("/admin/chat/provider/add/").content
