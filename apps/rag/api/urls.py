from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

app_name = "rag-api"

router = DefaultRouter()
router.include_root_view = False
router.register("rag/knowledge-bases", views.KnowledgeBaseViewSet, basename="knowledge-base")
router.register("rag/documents", views.DocumentViewSet, basename="document")
router.register("rag/chunks", views.ChunkViewSet, basename="chunk")

urlpatterns = [
    path("rag/search/", views.SearchView.as_view(), name="search"),
    path("rag/ask/", views.AskView.as_view(), name="ask"),
    path("rag/stats/", views.StatsView.as_view(), name="stats"),
    *router.urls,
]
