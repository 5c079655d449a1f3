from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

app_name = "stock-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("stock/instruments", views.InstrumentViewSet, basename="instrument")
router.register("stock/bars", views.PriceBarViewSet, basename="bar")
router.register("stock/strategies", views.StrategyViewSet, basename="strategy")
router.register("stock/backtests", views.BacktestRunViewSet, basename="backtest")
router.register("stock/sweeps", views.SweepViewSet, basename="sweep")
router.register("stock/portfolios", views.PortfolioViewSet, basename="portfolio")
router.register("stock/orders", views.OrderViewSet, basename="order")
router.register("stock/positions", views.PositionViewSet, basename="position")
router.register("stock/fills", views.FillViewSet, basename="fill")
router.register("stock/autotraders", views.AutoTraderViewSet, basename="autotrader")

urlpatterns = [
    path("stock/indicators/", views.IndicatorView.as_view(), name="indicators"),
    path("stock/strategy-kinds/", views.StrategyKindView.as_view(), name="strategy-kinds"),
    *router.urls,
]
