import pytest
from django.contrib.messages import get_messages

from apps.core.models import AuditLog
from tests.chat.factories import ConversationFactory, MessageFactory

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


def test_usage_dashboard_is_for_administrators(client, make_user):
    client.force_login(make_user(role="manager", is_staff=True))
    assert client.get("/admin/chat/usage/").status_code == 403
