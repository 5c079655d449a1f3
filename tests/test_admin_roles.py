"""The back office as each role sees it: every registered admin page, crawled by a staff user of every role who is
not a superuser.

For every (role, model): the changelist, the add page and the change page of a real object answer 200 exactly when the
ModelAdmin grants that user view (add) permission and 403 otherwise, never a 5xx; what the admin grants matches the
role matrix (apps/core/roles.py); a viewable change page renders every inline the user may view, with all of its rows.
The admin index and every app index show exactly the models the role may open, in the sidebar and in the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.forms.models import _get_foreign_key
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_celery_results.models import GroupResult, TaskResult
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.chat.models import ChatModel, Conversation, Feedback, Provider, Usage, UsageRecord
from apps.core.models import ApiKey, AuditLog, IdempotencyKey
from apps.core.roles import ROLES
from apps.core.services import api_key_create, audit_record
from apps.erp.models import (
    Account,
    BillOfMaterials,
    Customer,
    Delivery,
    ErpDashboard,
    Invoice,
    JournalEntry,
    KpiSnapshot,
    Location,
    Payment,
    Product,
    ProductCategory,
    ProductionOrder,
    PurchaseOrder,
    Receipt,
    SalesOrder,
    StockLevel,
    StockMove,
    Supplier,
    TaxRate,
    Warehouse,
)
from apps.erp.reference import reference_data_ensure
from apps.erp.services import finance, production, purchasing, sales
from apps.erp.services.housekeeping import kpi_snapshot_take
from apps.rag.models import Answer, Chunk, Document, KnowledgeBase
from apps.resources.models import (
    ApprovalRequest,
    HostSample,
    MonitorIssue,
    Plan,
    PlanAssignment,
    PoolReservation,
    QuotaCounter,
    QuotaHold,
    QuotaNotice,
    QuotaOverride,
    ResourcePool,
    UsageDaily,
)
from apps.stock.models import (
    AutoTrader,
    BacktestRun,
    Fill,
    Instrument,
    Order,
    Portfolio,
    PriceBar,
    Strategy,
    Sweep,
)
from tests.chat.factories import (
    ChatModelFactory,
    ConversationFactory,
    FeedbackFactory,
    MessageFactory,
    ProviderFactory,
    UsageRecordFactory,
)
from tests.core.factories import UserFactory
from tests.erp.factories import (
    CustomerFactory,
    LocationFactory,
    ProductCategoryFactory,
    ProductFactory,
    SupplierFactory,
    TaxRateFactory,
    WarehouseFactory,
)
from tests.erp.helpers import receive_stock
from tests.rag.factories import AnswerFactory, ChunkFactory, DocumentFactory, KnowledgeBaseFactory
from tests.resources.factories import (
    PlanAssignmentFactory,
    PlanLimitFactory,
    QuotaCounterFactory,
    QuotaNoticeFactory,
    QuotaOverrideFactory,
    UsageDailyFactory,
)
from tests.resources.factories_monitoring import HostSampleFactory, MonitorIssueFactory
from tests.resources.factories_pools import ApprovalRequestFactory, PoolReservationFactory, ResourcePoolFactory
from tests.stock.factories import (
    BacktestRunFactory,
    BacktestTradeFactory,
    FillFactory,
    InstrumentFactory,
    OrderFactory,
    PortfolioFactory,
    PositionFactory,
    PriceBarFactory,
    StrategyFactory,
    SweepFactory,
)

D = Decimal
ROLE_NAMES = list(ROLES)  # admin, manager, user, guest: every role, as a staff user who is not a superuser
REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
APP_LABELS = sorted({model._meta.app_label for model, _ in REGISTERED})
CHANGELIST_HREF = re.compile(r'href="(/admin/[a-z_]+/[a-z_]+/)"')

# (model label, role) -> the exact bug, for pages that fail today. Each entry is a strict xfail: fixing the bug
# makes the test pass and the xfail must then be removed.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


@pytest.fixture(autouse=True)
def _erp_reference_data(db) -> None:
    """Tax rates, the main warehouse and the chart of accounts the ERP objects below rely on."""
    reference_data_ensure()


def _staff(role: str) -> Any:
    user = UserFactory(username=f"staff-{role}", role=role, is_staff=True)
    assert not user.is_superuser
    return user


def _request(user: Any) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _check_status(response: Any, expected: int, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"
    assert response.status_code == expected, f"{what}: {response.status_code}, expected {expected}"


def _role_may_view(user: Any, model_admin: Any) -> bool:
    """The role matrix's answer: an admin mapped onto role permissions is visible to whoever holds its read or write
    permission; the library admins (Django per-model permissions, which no role group holds) to nobody."""
    perms = (getattr(model_admin, "permission_read", None), getattr(model_admin, "permission_write", None))
    return any(user.has_perm(perm) for perm in perms if perm)


# --- One object of every registered model, with inline rows where the admin has inlines -----------------------------


def _sales_chain(owner: Any) -> dict[str, Any]:
    """A sales order confirmed, delivered, invoiced and paid through the services."""
    product = ProductFactory()
    receive_stock(product, 10)
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": D("2")}])
    sales.sales_order_confirm(order=order)
    delivery = sales.sales_order_deliver(order=order)
    invoice = sales.sales_order_invoice(order=order)
    payment = finance.payment_register(invoice=invoice, amount=invoice.total)
    return {"order": order, "delivery": delivery, "invoice": invoice, "payment": payment, "product": product}


def _purchase_chain(owner: Any) -> dict[str, Any]:
    product = ProductFactory()
    order = purchasing.purchase_order_create(
        supplier=SupplierFactory(), lines=[{"product": product, "quantity": D("3"), "unit_price": D("50.00")}]
    )
    purchasing.purchase_order_approve(order=order)
    receipt = purchasing.purchase_order_receive(order=order)
    bill = purchasing.purchase_order_bill(order=order)
    return {"order": order, "receipt": receipt, "bill": bill}


def _bom(owner: Any) -> BillOfMaterials:
    return production.bom_create(
        code="BOM-CRAWL", product=ProductFactory(), lines=[{"component": ProductFactory(), "quantity": D("2")}]
    )


def _warehouse(owner: Any) -> Warehouse:
    warehouse = WarehouseFactory()
    LocationFactory(warehouse=warehouse)
    return warehouse


def _journal_entry(owner: Any) -> JournalEntry:
    product = ProductFactory()
    receive_stock(product, 5)  # posts Dr inventory / Cr opening equity
    return JournalEntry.objects.filter(lines__isnull=False).latest("id")


def _conversation(owner: Any) -> Conversation:
    conversation = ConversationFactory(owner=owner)
    MessageFactory(conversation=conversation)
    return conversation


def _usage(owner: Any) -> Usage:
    return Usage.objects.get(pk=MessageFactory(conversation__owner=owner).pk)


def _answer(owner: Any) -> Answer:
    answer = AnswerFactory(asked_by=owner)
    answer.knowledge_bases.add(KnowledgeBaseFactory(owner=owner))
    return answer


def _backtest_run(owner: Any) -> BacktestRun:
    run = BacktestRunFactory(owner=owner)
    BacktestTradeFactory(run=run, instrument=run.instrument)
    return run


def _portfolio(owner: Any) -> Portfolio:
    portfolio = PortfolioFactory(owner=owner)
    PositionFactory(portfolio=portfolio)
    return portfolio


def _autotrader(owner: Any) -> AutoTrader:
    portfolio = PortfolioFactory(owner=owner)
    return AutoTrader.objects.create(
        owner=owner,
        portfolio=portfolio,
        strategy=StrategyFactory(owner=owner),
        instrument=InstrumentFactory(),
        quantity=D("1"),
    )


def _scheduled(schedule: models.Model, field: str) -> models.Model:
    """The schedule with a task running on it (the schedule admins show their tasks inline)."""
    PeriodicTask.objects.create(
        name=f"crawl {field}", task="core.purge_audit_log", one_off=field == "clocked", **{field: schedule}
    )
    return schedule


def _outstanding_token(owner: Any) -> OutstandingToken:
    return OutstandingToken.objects.get(jti=RefreshToken.for_user(owner)["jti"])


def _blacklisted_token(owner: Any) -> BlacklistedToken:
    return RefreshToken.for_user(owner).blacklist()[0]


_ACCESS = {"user_agent": "pytest", "ip_address": "127.0.0.1", "username": "someone", "http_accept": "*/*"}

OBJECTS: dict[type[models.Model], Callable[[Any], models.Model]] = {
    Group: lambda owner: Group.objects.get(name="guest"),
    get_user_model(): lambda owner: UserFactory(username="crawl-target"),
    AccessAttempt: lambda owner: AccessAttempt.objects.create(
        **_ACCESS, path_info="/admin/login/", get_data="", post_data="", failures_since_start=1
    ),
    AccessFailureLog: lambda owner: AccessFailureLog.objects.create(**_ACCESS, path_info="/admin/login/"),
    AccessLog: lambda owner: AccessLog.objects.create(**_ACCESS, path_info="/admin/login/"),
    ChatModel: lambda owner: ChatModelFactory(),
    Conversation: _conversation,
    Feedback: lambda owner: FeedbackFactory(),
    Provider: lambda owner: ProviderFactory(),
    Usage: _usage,
    UsageRecord: lambda owner: UsageRecordFactory(user=owner),
    ApiKey: lambda owner: api_key_create(owner=owner, name="crawl key")[0],
    AuditLog: lambda owner: audit_record(action="update", actor=owner, message="crawl entry"),
    ClockedSchedule: lambda owner: _scheduled(ClockedSchedule.objects.create(clocked_time=timezone.now()), "clocked"),
    CrontabSchedule: lambda owner: _scheduled(CrontabSchedule.objects.create(minute="5", hour="3"), "crontab"),
    IntervalSchedule: lambda owner: _scheduled(
        IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS), "interval"
    ),
    PeriodicTask: lambda owner: PeriodicTask.objects.create(
        name="crawl task",
        task="core.purge_audit_log",
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS),
    ),
    SolarSchedule: lambda owner: _scheduled(
        SolarSchedule.objects.create(event="sunrise", latitude=D("31.23"), longitude=D("121.47")), "solar"
    ),
    GroupResult: lambda owner: GroupResult.objects.create(group_id="crawl-group"),
    TaskResult: lambda owner: TaskResult.objects.create(task_id="crawl-task", status="SUCCESS"),
    Account: lambda owner: Account.objects.order_by("code").first(),
    BillOfMaterials: _bom,
    Customer: lambda owner: CustomerFactory(),
    Delivery: lambda owner: _sales_chain(owner)["delivery"],
    ErpDashboard: lambda owner: ErpDashboard.objects.get(pk=kpi_snapshot_take().pk),
    IdempotencyKey: lambda owner: IdempotencyKey.objects.create(
        key="crawl", user=owner, scope="/api/v1/erp/sales-orders/", request_hash="0" * 64
    ),
    Invoice: lambda owner: _sales_chain(owner)["invoice"],
    JournalEntry: _journal_entry,
    KpiSnapshot: lambda owner: kpi_snapshot_take(),
    Location: lambda owner: LocationFactory(),
    Payment: lambda owner: _sales_chain(owner)["payment"],
    Product: lambda owner: ProductFactory(),
    ProductCategory: lambda owner: ProductCategoryFactory(),
    ProductionOrder: lambda owner: production.production_order_create(bom=_bom(owner), quantity=D("1")),
    PurchaseOrder: lambda owner: _purchase_chain(owner)["order"],
    Receipt: lambda owner: _purchase_chain(owner)["receipt"],
    SalesOrder: lambda owner: _sales_chain(owner)["order"],
    StockLevel: lambda owner: StockLevel.objects.get(product=_sales_chain(owner)["product"]),
    StockMove: lambda owner: StockMove.objects.filter(product=_sales_chain(owner)["product"]).latest("id"),
    Supplier: lambda owner: SupplierFactory(),
    TaxRate: lambda owner: TaxRateFactory(),
    Warehouse: _warehouse,
    Answer: _answer,
    Chunk: lambda owner: ChunkFactory(document__knowledge_base__owner=owner),
    Document: lambda owner: DocumentFactory(knowledge_base__owner=owner),
    KnowledgeBase: lambda owner: KnowledgeBaseFactory(owner=owner),
    AutoTrader: _autotrader,
    BacktestRun: _backtest_run,
    Fill: lambda owner: FillFactory(order__portfolio__owner=owner),
    Instrument: lambda owner: InstrumentFactory(),
    Order: lambda owner: OrderFactory(portfolio__owner=owner),
    Portfolio: _portfolio,
    PriceBar: lambda owner: PriceBarFactory(),
    Strategy: lambda owner: StrategyFactory(owner=owner),
    Sweep: lambda owner: SweepFactory(owner=owner),
    OutstandingToken: _outstanding_token,
    BlacklistedToken: _blacklisted_token,
    # resources: host and service monitoring
    HostSample: lambda owner: HostSampleFactory(),
    Plan: lambda owner: PlanLimitFactory().plan,
    PlanAssignment: lambda owner: PlanAssignmentFactory(user=owner),
    QuotaOverride: lambda owner: QuotaOverrideFactory(user=owner),
    UsageDaily: lambda owner: UsageDailyFactory(user=owner),
    QuotaCounter: lambda owner: QuotaCounterFactory(user=owner),
    QuotaNotice: lambda owner: QuotaNoticeFactory(user=owner),
    QuotaHold: lambda owner: QuotaHold.objects.create(user=owner, purpose="crawl", expires_at=timezone.now()),
    MonitorIssue: lambda owner: MonitorIssueFactory(),
    # --- resources: pools, reservations and approvals ---
    ResourcePool: lambda owner: ResourcePoolFactory(),
    PoolReservation: lambda owner: PoolReservationFactory(user=owner),
    ApprovalRequest: lambda owner: ApprovalRequestFactory(requester=owner),
}


def test_every_registered_admin_has_an_object_builder() -> None:
    assert {model._meta.label for model, _ in REGISTERED} == {model._meta.label for model in OBJECTS}


# --- The crawl ------------------------------------------------------------------------------------------------------


def _crawl_params() -> list[Any]:
    params = []
    for role in ROLE_NAMES:
        for model, model_admin in REGISTERED:
            bug = KNOWN_BUGS.get((model._meta.label, role))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            params.append(pytest.param(role, model, model_admin, id=f"{model._meta.label}-{role}", marks=marks))
    return params


def _inline_rows(inline: Any, parent: models.Model) -> int:
    fk = _get_foreign_key(type(parent), inline.model, fk_name=inline.fk_name)
    return inline.model._default_manager.filter(**{fk.name: parent}).count()


def _check_inlines(response: Any, request: Any, model: type[models.Model], model_admin: Any, obj: Any) -> None:
    html = response.content.decode()
    rendered = {f.formset.prefix: f.formset for f in response.context["inline_admin_formsets"]}
    read_perm = getattr(model_admin, "permission_read", None)
    for inline_class in model_admin.inlines:
        inline = inline_class(model, admin.site)
        name = f"{model._meta.label}.{inline_class.__name__}"
        if read_perm and request.user.has_perm(read_perm):
            assert inline.has_view_permission(request, obj), f"{name} hidden from a holder of {read_perm}"
        if not inline.has_view_permission(request, obj):
            continue
        prefix = inline.get_formset(request, obj).get_default_prefix()
        assert f'name="{prefix}-TOTAL_FORMS"' in html, f"{name} is viewable but not rendered"
        rows = _inline_rows(inline, obj)
        assert rows >= 1, f"{name}: the crawl object has no rows to show"
        assert rendered[prefix].initial_form_count() == rows, f"{name}: rows hidden"


@pytest.mark.parametrize(("role", "model", "model_admin"), _crawl_params())
def test_role_crawls_admin_pages(client, role, model, model_admin) -> None:
    user = _staff(role)
    request = _request(user)
    obj = OBJECTS[model](user)
    client.force_login(user)

    may_view = model_admin.has_view_or_change_permission(request)
    assert may_view == _role_may_view(user, model_admin), f"{role} view of {model._meta.label} vs the role matrix"

    changelist = client.get(_url(model, "changelist"))
    _check_status(changelist, 200 if may_view else 403, "changelist")
    if may_view and "cl" in changelist.context:
        assert obj.pk in {row.pk for row in changelist.context["cl"].result_list}, "object missing from changelist"

    may_add = model_admin.has_add_permission(request)
    assert not may_add or may_view, "may add but not view"
    _check_status(client.get(_url(model, "add")), 200 if may_add else 403, "add page")

    may_view_obj = model_admin.has_view_or_change_permission(request, obj)
    change = client.get(_url(model, "change", obj.pk))
    _check_status(change, 200 if may_view_obj else 403, "change page")
    if may_view_obj:
        _check_inlines(change, request, model, model_admin, obj)


# --- Index, app index and sidebar -----------------------------------------------------------------------------------


def _visible_changelists(request: Any, app_label: str | None = None) -> set[str]:
    return {
        _url(model, "changelist")
        for model, model_admin in REGISTERED
        if (app_label is None or model._meta.app_label == app_label)
        and model_admin.has_view_or_change_permission(request)
    }


def _check_navigation(response: Any, request: Any, app_label: str | None = None) -> None:
    """The sidebar lists exactly the admins the user may open; the page links to all of those it is about (the whole
    site or one app) and to no other admin."""
    sidebar = {item["link"] for group in response.context["sidebar_navigation"] for item in group["items"]}
    assert sidebar == _visible_changelists(request), "sidebar"
    visible = _visible_changelists(request, app_label)
    html = response.content.decode()
    for link in visible:
        assert f'href="{link}"' in html, f"{link} missing from the page"
    forbidden = {_url(model, "changelist") for model, _ in REGISTERED} - _visible_changelists(request)
    assert not set(CHANGELIST_HREF.findall(html)) & forbidden, "the page links to admins the user may not open"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_admin_index_and_sidebar(client, role) -> None:
    user = _staff(role)
    request = _request(user)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    _check_status(response, 200, "admin index")
    assert _visible_changelists(request), f"{role} sees nothing in the admin"
    _check_navigation(response, request)
    titles = {group["title"] for group in response.context["sidebar_navigation"]}
    assert ("Security" in titles) == user.has_perm("core.audit")
    assert "Scheduling" not in titles  # Celery beat and results: superusers only


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("app_label", APP_LABELS)
def test_role_app_index(client, role, app_label) -> None:
    user = _staff(role)
    request = _request(user)
    client.force_login(user)
    visible = _visible_changelists(request, app_label)
    response = client.get(reverse("admin:app_list", args=[app_label]))
    if not visible:  # Django answers an app with nothing the user may see as a page that does not exist
        _check_status(response, 404, f"{app_label} index")
        return
    _check_status(response, 200, f"{app_label} index")
    _check_navigation(response, request, app_label)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_without_staff_status_is_sent_to_the_login_page(client, role) -> None:
    """Staff status opens the back office; a role alone does not (the 403s above are for staff users)."""
    client.force_login(UserFactory(username=f"plain-{role}", role=role))
    for url in (reverse("admin:index"), _url(Customer, "changelist"), reverse("admin:app_list", args=["erp"])):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


# --- Objects of other users -----------------------------------------------------------------------------------------

# Owned objects the API narrows to the caller's own, granted or (knowledge bases) shared-with-everyone ones
# (objects_visible_to, knowledge_bases_readable): the admin must not show another user's private object either.
SCOPED: tuple[type[models.Model], ...] = (
    Order,
    Fill,
    AutoTrader,
    Portfolio,
    Strategy,
    BacktestRun,
    Sweep,
    KnowledgeBase,
    Document,
    Chunk,
    Answer,
)


def _scoped_params() -> list[Any]:
    """Every role against every scoped admin, except a role holding the admin's manage permission (which sees all)."""
    from apps.core.roles import ROLES

    return [
        pytest.param(role, model, id=f"{model._meta.label}-{role}")
        for model in SCOPED
        for role in ROLE_NAMES
        if getattr(admin.site._registry[model], "manage_permission", None) not in ROLES[role]
    ]


def test_answers_of_everyone_are_open_to_auditors(client) -> None:
    other = OBJECTS[Answer](UserFactory(username="someone-else", role="user"))
    client.force_login(_staff("admin"))
    changelist = client.get(_url(Answer, "changelist"))
    assert other.pk in {row.pk for row in changelist.context["cl"].result_list}


@pytest.mark.parametrize(("role", "model"), _scoped_params())
def test_role_does_not_see_another_users_private_objects(client, role, model) -> None:
    user = _staff(role)
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(_request(user)), "the role may open this admin at all"
    other = OBJECTS[model](UserFactory(username="someone-else", role="user"))
    client.force_login(user)

    changelist = client.get(_url(model, "changelist"))
    _check_status(changelist, 200, "changelist")
    assert other.pk not in {row.pk for row in changelist.context["cl"].result_list}, "listed"
    change = client.get(_url(model, "change", other.pk))
    assert change.status_code == 302, f"change page of another user's object: {change.status_code}"
    assert change["Location"] == reverse("admin:index")
