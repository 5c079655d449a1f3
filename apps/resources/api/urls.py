from rest_framework.routers import DefaultRouter

app_name = "resources-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# one block per area (metering and quotas, pools and reservations, approvals, monitoring)

urlpatterns = [
    *router.urls,
]
