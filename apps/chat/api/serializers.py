from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import Group
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.core.serializers import BaseModelSerializer, DecimalField, IntegerField

from ..choices import Rating
from ..knowledge import knowledge_bases
from ..models import ChatModel, Conversation, Feedback, Message, Provider
from ..services.providers import provider_address_check


class KnowledgeBaseField(serializers.PrimaryKeyRelatedField):
    """A knowledge base by id, from the knowledge provider (chat does not import the knowledge app)."""

    def get_queryset(self) -> Any:
        return knowledge_bases()


class ProviderSerializer(BaseModelSerializer[Provider]):
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500)
    has_api_key = serializers.SerializerMethodField()

    class Meta:
        model = Provider
        fields = [
            "id",
            "name",
            "kind",
            "base_url",
            "api_key",
            "has_api_key",
            "extra_headers",
            "timeout",
            "enabled",
            "allow_private_network",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_has_api_key(self, obj: Provider) -> bool:
        return bool(obj.api_key)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = Provider(
            **{
                **(
                    {f.name: getattr(self.instance, f.name) for f in Provider._meta.concrete_fields}
                    if self.instance
                    else {}
                ),
                **attrs,
            }
        )
        instance.clean()
        request = self.context.get("request")
        provider_address_check(provider=instance, actor=getattr(request, "user", None), before=self.instance)
        return attrs


class ConnectionTestSerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    models = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_blank=True)


class ChatModelSerializer(BaseModelSerializer[ChatModel]):
    provider_id = serializers.PrimaryKeyRelatedField(source="provider", queryset=Provider.objects.all())
    knowledge_base_ids = KnowledgeBaseField(source="knowledge_bases", many=True, required=False)
    visible_to_group_ids = serializers.PrimaryKeyRelatedField(
        source="visible_to_groups", many=True, queryset=Group.objects.all(), required=False
    )

    class Meta:
        model = ChatModel
        fields = [
            "id",
            "slug",
            "display_name",
            "provider_id",
            "upstream_model",
            "system_prompt",
            "temperature",
            "max_tokens",
            "context_window",
            "knowledge_base_ids",
            "tools",
            "price_input_per_1k",
            "price_output_per_1k",
            "visible_to_group_ids",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs: ClassVar = {"price_input_per_1k": {"min_value": 0}, "price_output_per_1k": {"min_value": 0}}

    def validate_tools(self, value: Any) -> Any:
        ChatModel(tools=value).clean()
        return value


class MessageSerializer(BaseModelSerializer[Message]):
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "role",
            "content",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "latency_ms",
            "cost",
            "citations",
            "tool_calls",
            "error",
            "incomplete",
            "created_at",
        ]
        read_only_fields = fields


class ConversationSerializer(BaseModelSerializer[Conversation]):
    model_id = serializers.PrimaryKeyRelatedField(source="model", queryset=ChatModel.objects.all())
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Conversation
        fields = ["id", "title", "model_id", "owner", "origin", "archived", "created_at", "updated_at"]
        read_only_fields = ["owner", "origin", "created_at", "updated_at"]


class SendSerializer(serializers.Serializer[Any]):
    content = serializers.CharField(max_length=100_000)
    stream = serializers.BooleanField(default=False)


class FeedbackSerializer(BaseModelSerializer[Feedback]):
    rating = serializers.ChoiceField(choices=Rating.choices)

    class Meta:
        model = Feedback
        fields = ["id", "message", "rating", "comment", "created_at", "updated_at"]
        read_only_fields = ["id", "message", "created_at", "updated_at"]


class UsageQuerySerializer(serializers.Serializer[Any]):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    group_by = serializers.ChoiceField(choices=["model", "user", "day", "user_model"], default="model")
    everyone = serializers.BooleanField(default=False, help_text=_("All users (needs core.audit)."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": [gettext("Must not be before date_from.")]})
        return attrs


class UsageRowSerializer(serializers.Serializer[Any]):
    model = serializers.CharField(required=False, allow_null=True)
    user = serializers.CharField(required=False)
    day = serializers.DateField(required=False)
    messages = IntegerField()
    prompt_tokens = IntegerField()
    completion_tokens = IntegerField()
    total_tokens = IntegerField()
    cost = DecimalField(max_digits=16, decimal_places=6)
    errors = IntegerField()


class ToolSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.JSONField()
    permissions = serializers.ListField(child=serializers.CharField())


class ToolRunSerializer(serializers.Serializer[Any]):
    arguments = serializers.DictField(required=False, default=dict)


class ToolResultSerializer(serializers.Serializer[Any]):
    tool = serializers.CharField()
    result = serializers.JSONField()
