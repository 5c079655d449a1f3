from decimal import Decimal

import factory

from apps.chat.choices import ProviderKind
from apps.chat.models import ChatModel, Conversation, Feedback, Message, Provider, UsageRecord
from tests.core.factories import UserFactory


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    name = factory.Sequence(lambda n: f"Provider {n}")
    kind = ProviderKind.OPENAI_COMPATIBLE
    base_url = "http://127.0.0.1:9/v1"
    api_key = "upstream-secret"
    timeout = 5.0


class BuiltinProviderFactory(ProviderFactory):
    name = factory.Sequence(lambda n: f"Built-in {n}")
    kind = ProviderKind.BUILTIN
    base_url = ""
    api_key = ""


class ChatModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChatModel

    slug = factory.Sequence(lambda n: f"model-{n}")
    display_name = factory.LazyAttribute(lambda o: o.slug.title())
    provider = factory.SubFactory(ProviderFactory)
    upstream_model = "up-model"
    price_input_per_1k = Decimal("0.500000")
    price_output_per_1k = Decimal("1.500000")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    owner = factory.SubFactory(UserFactory, role="user")
    model = factory.SubFactory(ChatModelFactory)
    title = factory.Sequence(lambda n: f"Conversation {n}")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = "assistant"
    content = "An answer."
    model = factory.LazyAttribute(lambda o: o.conversation.model)


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feedback

    message = factory.SubFactory(MessageFactory)
    user = factory.LazyAttribute(lambda o: o.message.conversation.owner)
    rating = "up"


class UsageRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageRecord

    user = factory.SubFactory(UserFactory)
    model_name = "up-model"
    purpose = "chat"
    prompt_tokens = 10
    completion_tokens = 5
