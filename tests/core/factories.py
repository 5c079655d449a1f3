import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.core.models import ApiKey, AuditLog


class UserFactory(factory.django.DjangoModelFactory):
    """A user; ``UserFactory(role=MANAGER)`` puts them in that role's group (roles are synced at migrate)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pass-word-123")
    is_active = True

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    name = factory.Sequence(lambda n: f"key {n}")
    owner = factory.SubFactory(UserFactory)
    prefix = factory.Sequence(lambda n: f"ask_f{n:07d}")
    key_hash = factory.Sequence(lambda n: f"{n:064x}")


class AuditLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditLog

    action = "update"
    actor = factory.SubFactory(UserFactory)
    actor_username = factory.LazyAttribute(lambda o: o.actor.username if o.actor else "")
    target_type = "auth.user"
    target_id = "1"
