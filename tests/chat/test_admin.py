import pytest
from django.contrib.messages import get_messages

from apps.core.models import AuditLog
from tests.chat.factories import ChatModelFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_provider_connection_test_action(admin_client, provider):
    response = admin_client.post(
        "/admin/chat/provider/", {"action": "test_connection", "_selected_action": [provider.pk]}
    )
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("up-model" in t for t in texts), texts
    assert AuditLog.objects.filter(target_type="chat.provider", message__startswith="connection test").exists()


def test_conversation_page_shows_messages_read_only(admin_client, chat_model):
    message = MessageFactory(conversation=ConversationFactory(model=chat_model), content="Stored answer")
    response = admin_client.get(f"/admin/chat/conversation/{message.conversation_id}/change/")
    assert response.status_code == 200 and "Stored answer" in response.content.decode()


def test_usage_dashboard(admin_client, chat_model):
    MessageFactory(conversation=ConversationFactory(model=chat_model), prompt_tokens=40, completion_tokens=2)
    response = admin_client.get("/admin/chat/usage/?days=7")
    html = response.content.decode()
    assert response.status_code == 200 and "Tokens per day" in html and "gpt-fake" in html


def test_usage_dashboard_is_for_resource_managers(client, make_user):
    client.force_login(make_user(role="user", is_staff=True))
    assert client.get("/admin/chat/usage/").status_code == 403
    client.force_login(make_user(role="manager", is_staff=True))
    assert client.get("/admin/chat/usage/").status_code == 200


def test_managers_manage_providers_in_the_admin(client, make_user, provider):
    client.force_login(make_user(role="manager", is_staff=True))
    assert client.get(f"/admin/chat/provider/{provider.pk}/change/").status_code == 200
    client.force_login(make_user(role="user", is_staff=True))
    assert client.get(f"/admin/chat/provider/{provider.pk}/change/").status_code == 403


def test_model_form_offers_the_registered_tools(admin_client, provider):
    from apps.chat.models import ChatModel

    page = admin_client.get("/admin/chat/chatmodel/add/").content.decode()
    assert "erp_lookup (needs erp.read)" in page and "stock_quote" in page
    response = admin_client.post(
        "/admin/chat/chatmodel/add/",
        {
            "slug": "with-tools",
            "display_name": "With tools",
            "provider": provider.pk,
            "upstream_model": "up-model",
            "temperature": "0.7",
            "context_window": "8192",
            "tools": ["search_knowledge", "erp_lookup"],
            "price_input_per_1k": "0",
            "price_output_per_1k": "0",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ChatModel.objects.get(slug="with-tools").tools == ["search_knowledge", "erp_lookup"]
    assert AuditLog.objects.filter(target_type="chat.chatmodel", action="create").exists()


def test_provider_api_key_is_never_shown_and_kept_when_left_blank(admin_client, provider):
    from apps.chat.models import Provider

    url = f"/admin/chat/provider/{provider.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "upstream-secret" not in page and "A key is stored" in page
    form = {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "api_key": "",
        "extra_headers": "{}",
        "timeout": "5",
        "enabled": "on",
    }
    assert admin_client.post(url, form).status_code == 302
    assert Provider.objects.get(pk=provider.pk).api_key == "upstream-secret"
    assert admin_client.post(url, {**form, "api_key": "sk-new"}).status_code == 302
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-new"
    assert admin_client.post(url, {**form, "clear_api_key": "on"}).status_code == 302
    assert Provider.objects.get(pk=provider.pk).api_key == ""


def test_conversation_messages_are_shown_to_auditors_who_are_not_superusers(client, make_user, chat_model):
    conversation = ConversationFactory(model=chat_model)
    MessageFactory(conversation=conversation, content="the answer is in the handbook")
    auditor = make_user(role="admin", is_staff=True, is_superuser=False)
    client.force_login(auditor)
    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    assert "the answer is in the handbook" in page


def test_chat_users_see_only_the_models_offered_to_them(client, make_user, chat_model):
    from django.contrib.auth.models import Group

    hidden = ChatModelFactory(slug="managers-only", provider=chat_model.provider)
    hidden.visible_to_groups.add(Group.objects.get(name="manager"))
    client.force_login(make_user(role="user", is_staff=True))
    listed = {row.slug for row in client.get("/admin/chat/chatmodel/").context["cl"].result_list}
    assert listed == {chat_model.slug}
    assert client.get(f"/admin/chat/chatmodel/{hidden.pk}/change/").status_code == 302
    client.force_login(make_user(role="manager", is_staff=True))
    listed = {row.slug for row in client.get("/admin/chat/chatmodel/").context["cl"].result_list}
    assert listed == {chat_model.slug, "managers-only"}
