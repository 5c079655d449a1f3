import io

import pytest

from apps.chat.demo import seed
from apps.chat.models import ChatModel
from apps.chat.services import Completion
from apps.chat.services.engine import NO_KNOWLEDGE
from apps.chat.tools import ToolContext

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent_and_the_extractive_model_works_without_upstream(make_user):
    seed(stdout=io.StringIO())
    seed(stdout=io.StringIO())
    model = ChatModel.objects.get(slug="aistack-extractive")
    assert model.provider.kind == "builtin"
    done = Completion(
        ctx=ToolContext(user=make_user(role="user")), model=model, messages=[{"role": "user", "content": "hello"}]
    )
    assert done.run().content == NO_KNOWLEDGE
