from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Security"

    def ready(self) -> None:
        from . import caching, context, metrics, signals  # noqa: F401  (business metrics, login audit receivers)
        from .services import roles_sync_after_migrate

        caching.connect_signals()
        context.connect_task_signals()
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="core.sync_roles")
        post_migrate.connect(caching.bump_all_after_migrate, dispatch_uid="core.cache_after_migrate")
