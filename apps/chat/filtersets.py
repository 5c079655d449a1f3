import django_filters

from apps.core.filtersets import BaseFilterSet

from .models import ChatModel, Conversation, Provider


class ProviderFilterSet(BaseFilterSet):
    q_fields = ("name", "base_url")

    class Meta:
        model = Provider
        fields = ["kind", "enabled"]


class ChatModelFilterSet(BaseFilterSet):
    q_fields = ("slug", "display_name", "upstream_model")
    provider_id = django_filters.NumberFilter(field_name="provider_id")

    class Meta:
        model = ChatModel
        fields = ["enabled", "provider_id"]


class ConversationFilterSet(BaseFilterSet):
    q_fields = ("title",)
    model_id = django_filters.NumberFilter(field_name="model_id")

    class Meta:
        model = Conversation
        fields = ["archived", "origin", "model_id"]
