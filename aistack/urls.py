from importlib.util import find_spec

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core import i18n as core_i18n
from apps.core import views as core_views
from apps.core.api.views import ApiRootView


def _has_api(system: str) -> bool:
    """A system mounts its router (apps/<system>/api/urls.py) once it has an API."""
    try:
        return find_spec(f"apps.{system}.api.urls") is not None
    except ModuleNotFoundError:
        return False


api_v1 = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("apps.core.api.urls")),
    *[path("", include(f"apps.{name}.api.urls")) for name in settings.SYSTEM_APPS if _has_api(name)],
]

urlpatterns = [
    path("admin/language/", core_i18n.language_switch, name="set_language"),  # the admin's language switcher
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # OpenAI-compatible API (Open WebUI and any OpenAI client): /v1/models, /v1/chat/completions, /v1/embeddings
    path("v1/", include("apps.chat.openai_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_views.metrics, name="metrics"),
    # last: any other /api/ or /v1/ path is a JSON 404, with DEBUG on too (Django's debug 404 page is HTML)
    re_path(r"^(?:api|v1)/(?P<unmatched>.*)$", core_views.api_not_found, name="api-not-found"),
]

handler400 = "apps.core.views.handler400"
handler403 = "apps.core.views.handler403"
handler404 = "apps.core.views.handler404"
handler500 = "apps.core.views.handler500"
