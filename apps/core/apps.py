from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = _("Security")

    def ready(self) -> None:
        from . import caching, context, metrics, signals  # noqa: F401  (business metrics, login audit receivers)
        from .exceptions import register_denial_recorder
        from .permissions import permissions_check_deferred
        from .services import audit_permission_denied, roles_sync_after_migrate

        permissions_check_deferred()
        _resolve_schema_extensions()
        register_denial_recorder(audit_permission_denied)
        caching.connect_signals()
        context.connect_task_signals()
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="core.sync_roles")
        post_migrate.connect(caching.bump_all_after_migrate, dispatch_uid="core.cache_after_migrate")


def _resolve_schema_extensions() -> None:
    """drf-spectacular resolves each schema extension's target class on the first schema request, and not in a
    thread-safe way: two first requests at once can make /api/schema/ fail. Resolve them once, at start-up."""
    from drf_spectacular import openapi  # noqa: F401  (registers the bundled extensions)
    from drf_spectacular.plumbing import OpenApiGeneratorExtension

    from . import auth  # noqa: F401  (the API-key scheme)

    for base in OpenApiGeneratorExtension.__subclasses__():
        for extension in list(base._registry):
            if isinstance(extension.target_class, str):
                extension._load_class()  # type: ignore[no-untyped-call]
