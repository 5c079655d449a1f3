from django.urls import path
from rest_framework.routers import DefaultRouter

from .views import approvals as approval_views  # pools, reservations and approvals
from .views import metering
from .views import monitoring as monitoring_views  # host and service monitoring
from .views import pools as pool_views  # pools, reservations and approvals

app_name = "resources-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# --- metering and quotas
router.register("resources/usage", metering.UsageViewSet, basename="usage")
router.register("resources/quota-counters", metering.QuotaCounterViewSet, basename="quota-counter")
router.register("resources/quota-notices", metering.QuotaNoticeViewSet, basename="quota-notice")
router.register("resources/plans", metering.PlanViewSet, basename="plan")
router.register("resources/plan-limits", metering.PlanLimitViewSet, basename="plan-limit")
router.register("resources/plan-assignments", metering.PlanAssignmentViewSet, basename="plan-assignment")
router.register("resources/quota-overrides", metering.QuotaOverrideViewSet, basename="quota-override")

# --- host and service monitoring
router.register("resources/host-samples", monitoring_views.HostSampleViewSet, basename="host-sample")
router.register("resources/monitor-issues", monitoring_views.MonitorIssueViewSet, basename="monitor-issue")
# --- end of host and service monitoring

# --- pools, reservations and approvals ---
router.register("resources/pools", pool_views.PoolViewSet, basename="pool")
router.register("resources/reservations", pool_views.ReservationViewSet, basename="reservation")
router.register("resources/approvals", approval_views.ApprovalRequestViewSet, basename="approval")

urlpatterns = [
    path("resources/meters/", metering.MeterView.as_view(), name="meters"),
    path("resources/my-quota/", metering.MyQuotaView.as_view(), name="my-quota"),
    path("resources/users/<int:user_id>/quota/", metering.UserQuotaView.as_view(), name="user-quota"),
    path("resources/quota-counters/reset/", metering.QuotaResetView.as_view(), name="quota-reset"),
    *router.urls,
]
