"""The project's URLs plus the OpenAI-compatible API at /v1/ (as aistack/urls.py mounts it)."""

from django.urls import include, path

from aistack.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns, path("v1/", include("apps.chat.openai_urls"))]
