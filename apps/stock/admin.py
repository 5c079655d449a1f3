"""Back office of the stock system. Writes go through the same services as the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdminMixin
from unfold.decorators import action

from apps.core.admin_base import BaseModelAdmin, OwnedObjectsAdminMixin, ReadOnlyModelAdmin, ReadOnlyTabularInline
from apps.core.exceptions import ApplicationError
from apps.core.services import audit_model_change

from .backtest.chart import price_chart_svg
from .choices import Timeframe
from .models import (
    AutoTrader,
    BacktestRun,
    BacktestTrade,
    Fill,
    Instrument,
    Order,
    Portfolio,
    Position,
    PriceBar,
    Strategy,
    Sweep,
)
from .providers import provider_names
from .selectors import bars_frame, portfolio_valuation, position_list
from .services import autotrade, paper, research
from .services.bars import bars_import

READ, TRADE = "stock.read", "stock.trade"
MARKET_DATA_MANAGE = "resources.manage"  # instruments and bars are company-wide: managed by managers and admins


class BarImportForm(forms.Form):
    file = forms.FileField(label=_("File"))
    symbol = forms.CharField(max_length=32, label=_("Symbol"))
    exchange = forms.CharField(max_length=16, initial="XNYS", label=_("Exchange"))
    timeframe = forms.ChoiceField(choices=Timeframe.choices, initial="1d", label=_("Timeframe"))
    provider = forms.ChoiceField(choices=[(p, p) for p in provider_names()], initial="csv", label=_("Provider"))


@admin.register(Instrument)
class InstrumentAdmin(BaseModelAdmin):
    permission_read, permission_write = READ, MARKET_DATA_MANAGE
    list_display = ["symbol", "name", "exchange", "currency", "asset_class", "is_active"]
    list_filter = ["exchange", "asset_class", "is_active"]
    search_fields = ["symbol", "name"]
    readonly_fields = ["price_chart"]
    actions = ["deactivate"]
    actions_list = ["import_bars"]

    @admin.display(description=_("Price (daily close)"))
    def price_chart(self, obj: Instrument) -> str:
        if not obj.pk:
            return "-"
        frame = bars_frame(instrument=obj, timeframe="1d")
        if frame.empty:
            return gettext("No daily bars.")
        dates = [str(d.date()) for d in frame["ts"]]
        # price_chart_svg escapes every text it writes (symbol, dates); the rest is numbers (bandit: false positive).
        return mark_safe(price_chart_svg(dates, frame["close"].tolist(), title=obj.symbol))  # nosec B308, B703

    @admin.action(description=_("Deactivate (no new paper orders)"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: Any) -> None:
        for instrument in queryset:
            before = {"is_active": instrument.is_active}
            instrument.is_active = False
            with transaction.atomic():
                instrument.save(update_fields=["is_active", "updated_at"])
                audit_model_change(request=request, action="update", instance=instrument, before=before)

    def has_import_bars_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request)

    @action(description=_("Import bars"), url_path="import-bars", permissions=["import_bars"], icon="upload_file")
    def import_bars(self, request: HttpRequest) -> HttpResponse:
        """The "Import bars" button of the instrument list: upload a file, validated and loaded all or nothing."""
        form = BarImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = bars_import(
                    source=data["file"].read(),
                    symbol=data["symbol"],
                    exchange=data["exchange"],
                    timeframe=data["timeframe"],
                    provider=data["provider"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                errors = (exc.details or {}).get("errors", []) if isinstance(exc.details, dict) else []
                detail = "; ".join(
                    gettext("row %(row)s: %(field)s %(message)s")
                    % {"row": e["row"], "field": e["field"], "message": e["message"]}
                    for e in errors[:20]
                )
                form.add_error(None, f"{exc.message} {detail}")
            else:
                self.message_user(
                    request,
                    gettext("%(symbol)s: %(rows)d bars (%(inserted)d new, %(updated)d updated).")
                    % {k: result[k] for k in ("symbol", "rows", "inserted", "updated")},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:stock_instrument_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": gettext("Import bars"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/stock/import_bars.html", context)


@admin.register(PriceBar)
class PriceBarAdmin(ReadOnlyModelAdmin):
    permission_read = READ
    list_display = ["instrument", "timeframe", "ts", "open", "high", "low", "close", "volume"]
    list_filter = ["timeframe"]
    search_fields = ["instrument__symbol"]
    list_select_related = ["instrument"]
    date_hierarchy = "ts"


@admin.register(Strategy)
class StrategyAdmin(OwnedObjectsAdminMixin, GuardedModelAdminMixin, BaseModelAdmin):
    permission_read, permission_write = READ, TRADE
    list_display = ["name", "kind", "owner", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name"]
    readonly_fields = ["owner"]

    def save_model(self, request: HttpRequest, obj: Strategy, form: Any, change: bool) -> None:
        data = {"name": obj.name, "kind": obj.kind, "params": obj.params, "description": obj.description}
        if change:
            research.strategy_update(strategy=obj, actor=request.user, **data)
        else:
            saved = research.strategy_create(owner=request.user, **data)
            obj.pk = saved.pk

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)

        class ValidatingForm(form):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                from .strategies import get_kind

                try:
                    cleaned["params"] = get_kind(cleaned.get("kind", "")).validate(cleaned.get("params"))
                except ApplicationError as exc:
                    raise forms.ValidationError(f"{exc.message} {exc.details or ''}") from None
                return cleaned

        return ValidatingForm


class BacktestTradeInline(ReadOnlyTabularInline):
    model = BacktestTrade
    fields = [
        "seq",
        "instrument",
        "side",
        "quantity",
        "entry_ts",
        "entry_price",
        "exit_ts",
        "exit_price",
        "commission",
        "pnl",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("instrument")


class RunAdminMixin:
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # created through the API (validated, queued)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BacktestRun)
class BacktestRunAdmin(OwnedObjectsAdminMixin, RunAdminMixin, GuardedModelAdminMixin, BaseModelAdmin):
    permission_read, permission_write = READ, TRADE
    list_display = ["id", "owner", "symbols", "status", "total_return", "sharpe", "max_drawdown", "created_at"]
    list_filter = ["status", "timeframe"]
    list_select_related = ["instrument", "owner"]
    inlines = [BacktestTradeInline]
    readonly_fields = ["symbols", "metrics_table", "chart"]
    exclude = ["equity", "chart_svg"]

    @admin.display(description=_("instruments"))
    def symbols(self, obj: BacktestRun) -> str:
        return ", ".join((obj.config or {}).get("symbols") or [obj.instrument.symbol])

    def _metric(self, obj: BacktestRun, name: str) -> str:
        value = (obj.metrics or {}).get(name)
        return "-" if value is None else f"{value:.4f}"

    @admin.display(description=_("total return"))
    def total_return(self, obj: BacktestRun) -> str:
        return self._metric(obj, "total_return")

    @admin.display(description=_("Sharpe"))
    def sharpe(self, obj: BacktestRun) -> str:
        return self._metric(obj, "sharpe")

    @admin.display(description=_("max drawdown"))
    def max_drawdown(self, obj: BacktestRun) -> str:
        return self._metric(obj, "max_drawdown")

    @admin.display(description=_("Metrics"))
    def metrics_table(self, obj: BacktestRun) -> str:
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", sorted((obj.metrics or {}).items()))
        return format_html("<table>{}</table>", rows)

    @admin.display(description=_("Equity and drawdown"))
    def chart(self, obj: BacktestRun) -> str:
        # chart_svg is written only by equity_chart_svg, which escapes its texts; no form or API field writes it.
        return mark_safe(obj.chart_svg or "-")  # nosec B308, B703


@admin.register(Sweep)
class SweepAdmin(OwnedObjectsAdminMixin, RunAdminMixin, GuardedModelAdminMixin, BaseModelAdmin):
    permission_read, permission_write = READ, TRADE
    list_display = ["id", "owner", "kind", "instrument", "status", "done", "total", "rank_by", "created_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["instrument", "owner"]
    readonly_fields = ["best"]
    exclude = ["results"]

    @admin.display(description=_("Best 10"))
    def best(self, obj: Sweep) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((r["params"], r["metrics"].get(obj.rank_by)) for r in (obj.results or [])[:10]),
        )
        return format_html("<table><tr><th>params</th><th>{}</th></tr>{}</table>", obj.rank_by, rows)


class PositionInline(ReadOnlyTabularInline):
    model = Position
    fields = ["instrument", "quantity", "avg_cost", "realized_pnl"]
    readonly_fields = fields


@admin.register(Portfolio)
class PortfolioAdmin(OwnedObjectsAdminMixin, GuardedModelAdminMixin, BaseModelAdmin):
    permission_read, permission_write = READ, TRADE
    list_display = ["name", "owner", "base_currency", "cash", "reserved_cash"]
    search_fields = ["name"]
    inlines = [PositionInline]
    readonly_fields = ["reserved_cash", "valuation", "positions_pnl"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "owner", "cash"] if obj else fields

    def save_model(self, request: HttpRequest, obj: Portfolio, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        saved = paper.portfolio_create(
            owner=(obj.owner_id and obj.owner) or request.user,
            name=obj.name,
            cash=obj.cash,
            base_currency=obj.base_currency,
            allow_margin=obj.allow_margin,
            max_position_pct=obj.max_position_pct,
            max_order_value=obj.max_order_value,
        )
        obj.pk = saved.pk

    @admin.display(description=_("Valuation"))
    def valuation(self, obj: Portfolio) -> str:
        if not obj.pk:
            return "-"
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", portfolio_valuation(portfolio=obj).items())
        return format_html("<table>{}</table>", rows)

    @admin.display(description=_("Positions (unrealized P&L at the last close)"))
    def positions_pnl(self, obj: Portfolio) -> str:
        if not obj.pk:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (p.instrument.symbol, p.quantity.normalize(), p.last_price, p.unrealized_pnl)
                for p in position_list(portfolios=Portfolio.objects.filter(pk=obj.pk))
            ),
        )
        return format_html(
            "<table><tr><th>symbol</th><th>qty</th><th>last</th><th>unrealized</th></tr>{}</table>", rows
        )


class PortfolioChildAdminMixin(OwnedObjectsAdminMixin):
    """Orders, fills and auto-traders of the portfolios the user may see."""

    def visible_queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(portfolio__in=super().visible_queryset(request, Portfolio.objects.all()))


@admin.register(Order)
class OrderAdmin(PortfolioChildAdminMixin, ReadOnlyModelAdmin):
    permission_read = READ
    list_display = ["id", "portfolio", "instrument", "side", "order_type", "quantity", "status", "created_at"]
    list_filter = ["status", "side", "order_type"]
    list_select_related = ["portfolio", "instrument"]
    actions = ["cancel_orders"]

    @admin.action(description=_("Cancel selected open orders"))
    def cancel_orders(self, request: HttpRequest, queryset: Any) -> None:
        if not request.user.has_perm(TRADE):
            self.message_user(request, gettext("Cancelling needs stock.trade."), messages.ERROR)
            return
        done = 0
        for order in queryset:
            try:
                paper.order_cancel(order=order, actor=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{order.pk}: {exc.message}", messages.WARNING)
        self.message_user(
            request,
            ngettext("Cancelled %(count)d order.", "Cancelled %(count)d orders.", done) % {"count": done},
            messages.SUCCESS,
        )


@admin.register(Fill)
class FillAdmin(PortfolioChildAdminMixin, ReadOnlyModelAdmin):
    permission_read = READ
    list_display = ["id", "order", "instrument", "side", "quantity", "price", "commission", "bar_ts"]
    list_select_related = ["order", "instrument"]


@admin.register(AutoTrader)
class AutoTraderAdmin(PortfolioChildAdminMixin, ReadOnlyModelAdmin):
    """Created through the API; switched on and off here (owners only, with stock.trade)."""

    permission_read = READ
    list_display = [
        "id",
        "portfolio",
        "strategy",
        "instrument",
        "timeframe",
        "quantity",
        "enabled",
        "last_outcome",
        "last_bar_ts",
        "last_order",
    ]
    list_filter = ["enabled", "last_outcome", "timeframe"]
    list_select_related = ["portfolio", "strategy", "instrument", "last_order"]
    actions = ["enable_traders", "disable_traders"]

    def _switch(self, request: HttpRequest, queryset: Any, enabled: bool) -> None:
        if not request.user.has_perm(TRADE):
            self.message_user(request, gettext("Switching auto-traders needs stock.trade."), messages.ERROR)
            return
        done = 0
        for trader in queryset:
            if trader.owner_id != request.user.pk:
                self.message_user(
                    request, gettext("#%(id)s: not your portfolio.") % {"id": trader.pk}, messages.WARNING
                )
                continue
            autotrade.autotrader_set_enabled(trader=trader, enabled=enabled, actor=request.user)
            done += 1
        message = (
            ngettext("Enabled %(count)d auto-trader.", "Enabled %(count)d auto-traders.", done)
            if enabled
            else ngettext("Disabled %(count)d auto-trader.", "Disabled %(count)d auto-traders.", done)
        )
        self.message_user(request, message % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Enable selected auto-traders"))
    def enable_traders(self, request: HttpRequest, queryset: Any) -> None:
        self._switch(request, queryset, True)

    @admin.action(description=_("Disable selected auto-traders"))
    def disable_traders(self, request: HttpRequest, queryset: Any) -> None:
        self._switch(request, queryset, False)
