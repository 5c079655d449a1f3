from rest_framework.routers import DefaultRouter

from .views import approvals as approval_views  # pools, reservations and approvals
from .views import pools as pool_views  # pools, reservations and approvals

app_name = "resources-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# one block per area (metering and quotas, pools and reservations, approvals, monitoring)

# --- pools, reservations and approvals ---
router.register("resources/pools", pool_views.PoolViewSet, basename="pool")
router.register("resources/reservations", pool_views.ReservationViewSet, basename="reservation")
router.register("resources/approvals", approval_views.ApprovalRequestViewSet, basename="approval")

urlpatterns = [
    *router.urls,
]
