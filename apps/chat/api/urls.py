from django.urls import path
from rest_framework.routers import DefaultRouter

from .views import (
    ChatModelViewSet,
    ConversationViewSet,
    MessageFeedbackView,
    ProviderViewSet,
    ToolListView,
    ToolRunView,
    UsageView,
)

app_name = "chat-api"

router = DefaultRouter()
router.include_root_view = False
router.register("chat/providers", ProviderViewSet, basename="provider")
router.register("chat/models", ChatModelViewSet, basename="chatmodel")
router.register("chat/conversations", ConversationViewSet, basename="conversation")

urlpatterns = [
    path("chat/messages/<int:pk>/feedback/", MessageFeedbackView.as_view(), name="message-feedback"),
    path("chat/tools/", ToolListView.as_view(), name="tools"),
    path("chat/tools/<str:name>/run/", ToolRunView.as_view(), name="tool-run"),
    path("chat/usage/", UsageView.as_view(), name="usage"),
    *router.urls,
]
