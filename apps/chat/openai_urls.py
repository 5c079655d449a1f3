"""The OpenAI-compatible API, mounted at the root: ``path("v1/", include("apps.chat.openai_urls"))``."""

from django.urls import path

from .api.openai import ChatCompletionsView, EmbeddingsView, ModelDetailView, ModelListView

app_name = "openai"

urlpatterns = [
    path("models", ModelListView.as_view(), name="models"),
    path("models/<path:model_id>", ModelDetailView.as_view(), name="model-detail"),
    path("chat/completions", ChatCompletionsView.as_view(), name="chat-completions"),
    path("embeddings", EmbeddingsView.as_view(), name="embeddings"),
]
