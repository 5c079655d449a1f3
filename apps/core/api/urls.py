from django.urls import path
from rest_framework.routers import DefaultRouter

from . import preferences, views

app_name = "core-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("core/api-keys", views.ApiKeyViewSet, basename="apikey")
router.register("core/audit", views.AuditLogViewSet, basename="auditlog")
router.register("core/users", views.UserViewSet, basename="user")

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="token"),
    path("auth/refresh/", views.TokenRefreshRotateView.as_view(), name="refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/me/", views.MeView.as_view(), name="me"),
    path("auth/me/language/", preferences.LanguagePreferenceView.as_view(), name="me-language"),
    path("core/roles/", views.RoleListView.as_view(), name="roles"),
    *router.urls,
]
