from rest_framework.routers import DefaultRouter

from .views import monitoring as monitoring_views  # host and service monitoring

app_name = "resources-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# one block per area (metering and quotas, pools and reservations, approvals, monitoring)

# --- host and service monitoring
router.register("resources/host-samples", monitoring_views.HostSampleViewSet, basename="host-sample")
router.register("resources/monitor-issues", monitoring_views.MonitorIssueViewSet, basename="monitor-issue")
# --- end of host and service monitoring

urlpatterns = [
    *router.urls,
]
