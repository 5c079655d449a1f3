"""The API of plans and quotas: who may read and change plans, limits, assignments, overrides, other users' quota
and counters (admin and manager: resources.manage; user and guest 403; anonymous 401); my-quota for everyone with
the right numbers; usage rows (own for a user, all for a manager), summaries and CSV; an override above the plan is
an approval (quota.raise_limit), approved by someone else and rolled back; bad input 400 with nothing written;
query counts that do not grow with the rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.models import AuditLog
from apps.core.testing import assert_anonymous_rejected, assert_error_body, assert_role_access
from apps.resources.counters import counter_store
from apps.resources.models import Plan, PlanAssignment, PlanLimit, QuotaCounter, QuotaNotice, QuotaOverride, UsageDaily
from apps.resources.periods import period_resets_at, period_start
from apps.resources.selectors.quotas import effective_limits, limits_forget_local
from apps.resources.services.metering import meter_record
from tests.resources.factories import (
    PlanAssignmentFactory,
    PlanFactory,
    PlanLimitFactory,
    QuotaCounterFactory,
    QuotaNoticeFactory,
    QuotaOverrideFactory,
    UsageDailyFactory,
)

pytestmark = pytest.mark.django_db
API = "/api/v1/resources"
MANAGERS = ["admin", "manager"]
ALL = ["admin", "manager", "user", "guest"]


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.RESOURCES_COUNTER_URL = ""
    limits_forget_local()
    counter_store().reset()
    yield
    counter_store().reset()
    limits_forget_local()


def on_plan(user, *limits, code=None):
    plan = PlanFactory(**({"code": code} if code else {}))
    for meter, period, limit in limits:
        PlanLimitFactory(plan=plan, meter=meter, period=period, limit=Decimal(limit))
    PlanAssignmentFactory(plan=plan, user=user)
    return plan


# --- who may do what --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "plans/",
        "plan-limits/",
        "plan-assignments/",
        "quota-overrides/",
        "users/{user}/quota/",
    ],
)
def test_managers_read_plans_and_others_quota(role_client, role_users, path):
    url = f"{API}/{path.format(user=role_users['user'].pk)}"
    assert_role_access(role_client, "get", url, MANAGERS)
    assert_anonymous_rejected("get", url)


def test_managers_write_plans_limits_assignments_and_overrides(role_client, role_users):
    target = role_users["guest"]
    assert_role_access(
        role_client, "post", f"{API}/plans/", MANAGERS, data=lambda role: {"code": f"p-{role}", "name": f"P {role}"}
    )
    assert set(Plan.objects.filter(code__startswith="p-").values_list("code", flat=True)) == {"p-admin", "p-manager"}
    plan = Plan.objects.get(code="p-admin")
    meters = {"admin": "ai.calls", "manager": "llm.tokens", "user": "api.calls", "guest": "agent.runs"}
    assert_role_access(
        role_client,
        "post",
        f"{API}/plan-limits/",
        MANAGERS,
        data=lambda role: {"plan": plan.pk, "meter": meters[role], "period": "month", "limit": "10"},
    )
    assert set(PlanLimit.objects.filter(plan=plan).values_list("meter", flat=True)) == {"ai.calls", "llm.tokens"}
    assert_role_access(role_client, "post", f"{API}/plan-assignments/", MANAGERS, {"plan": plan.pk, "user": target.pk})
    assert PlanAssignment.objects.get(user=target).plan == plan
    assert_role_access(
        role_client,
        "post",
        f"{API}/quota-overrides/",
        MANAGERS,
        {"user": target.pk, "meter": "ai.calls", "period": "month", "limit": "3"},
    )
    assert QuotaOverride.objects.get(user=target).limit == 3  # set twice: upserted, not duplicated
    assert_role_access(role_client, "post", f"{API}/quota-counters/reset/", MANAGERS, {"period": "day"})
    for path in ("plans/", "plan-limits/", "plan-assignments/", "quota-overrides/", "quota-counters/reset/"):
        assert_anonymous_rejected("post", f"{API}/{path}", {})


def test_managers_change_and_delete_through_the_api(role_client, role_users):
    client = role_client("manager")
    plan = PlanFactory()
    limit = PlanLimitFactory(plan=plan, meter="ai.calls", period="month", limit=Decimal(5))
    for role in ("user", "guest"):
        assert_error_body(role_client(role).patch(f"{API}/plan-limits/{limit.pk}/", {"limit": "1"}), 403)
        assert_error_body(role_client(role).delete(f"{API}/plans/{plan.pk}/"), 403)
    assert client.patch(f"{API}/plan-limits/{limit.pk}/", {"limit": "7"}).status_code == 200
    limit.refresh_from_db()
    assert limit.limit == 7
    override = QuotaOverrideFactory(user=role_users["user"], limit=Decimal(2))
    assert client.patch(f"{API}/quota-overrides/{override.pk}/", {"reason": "support"}).json()["reason"] == "support"
    assert client.delete(f"{API}/quota-overrides/{override.pk}/").status_code == 204
    assert not QuotaOverride.objects.exists()
    assert AuditLog.objects.filter(target_type="resources.quotaoverride", action="delete").exists()
    assert client.delete(f"{API}/plan-limits/{limit.pk}/").status_code == 204


def test_meters_and_own_rows_are_open_to_everyone(role_client):
    for role in ALL:
        body = role_client(role).get(f"{API}/meters/").json()
        codes = {m["code"]: m for m in body}
        assert codes["storage.bytes"]["level"] is True and codes["storage.bytes"]["periods"] == ["total"]
        assert codes["ai.calls"]["periods"] == ["day", "month"]
    for path in ("meters/", "my-quota/", "usage/", "quota-counters/", "quota-notices/", "usage/summary/"):
        assert_role_access(role_client, "get", f"{API}/{path}", ALL)
        assert_anonymous_rejected("get", f"{API}/{path}")


# --- my quota ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ALL)
def test_my_quota_has_the_numbers_of_each_role(role_client, role_users, role):
    user = role_users[role]
    plan = on_plan(user, ("ai.calls", "month", 10), ("storage.bytes", "total", 1000), code=f"mine-{role}")
    meter_record(meter="ai.calls", quantity=10, user=user)  # all of it: exhausted today
    meter_record(meter="storage.bytes", quantity=250, user=user)
    body = role_client(role).get(f"{API}/my-quota/").json()
    assert (body["user"], body["username"], body["plan"]) == (user.pk, user.username, plan.code)
    assert body["unread_notices"] == 2  # 80 % and 100 % of ai.calls
    lines = {(q["meter"], q["period"]): q for q in body["quotas"]}
    calls = lines[("ai.calls", "month")]
    assert (Decimal(calls["limit"]), Decimal(calls["used"]), Decimal(calls["remaining"])) == (10, 10, 0)
    assert calls["ratio"] == 1.0 and calls["source"] == "user_plan" and calls["plan"] == plan.code
    resets = period_resets_at("month", period_start("month"))
    assert dt.datetime.fromisoformat(calls["resets_at"].replace("Z", "+00:00")) == resets
    assert calls["exhausted_on"] == timezone.now().date().isoformat()
    storage = lines[("storage.bytes", "total")]
    assert (Decimal(storage["used"]), Decimal(storage["remaining"]), storage["resets_at"]) == (250, 750, None)
    assert storage["exhausted_on"] is None or storage["exhausted_on"] >= timezone.now().date().isoformat()


def test_my_quota_without_a_plan_of_ones_own(role_client, settings):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 500
    body = role_client("guest").get(f"{API}/my-quota/").json()
    assert body["plan"] == "default"
    [line] = body["quotas"]
    assert (line["meter"], line["period"], line["source"], Decimal(line["limit"])) == (
        "llm.tokens",
        "day",
        "setting",
        500,
    )
    assert Decimal(line["used"]) == 0 and line["exhausted_on"] is None


def test_a_manager_reads_another_users_quota(role_client, role_users):
    user = role_users["user"]
    on_plan(user, ("ai.calls", "day", 4))
    meter_record(meter="ai.calls", quantity=1, user=user)
    body = role_client("manager").get(f"{API}/users/{user.pk}/quota/").json()
    assert body["user"] == user.pk and Decimal(body["quotas"][0]["remaining"]) == 3
    assert_error_body(role_client("manager").get(f"{API}/users/999999/quota/"), 404)


# --- usage, counters and notices: own rows and everyone's -------------------------------------------------------------


def test_usage_shows_a_user_their_own_rows_and_a_manager_all(role_client, role_users):
    mine = UsageDailyFactory(user=role_users["user"], meter="ai.calls", quantity=Decimal(2))
    UsageDailyFactory(user=role_users["guest"], meter="ai.calls", quantity=Decimal(3))
    UsageDailyFactory(user=None, meter="llm.tokens", quantity=Decimal(9))
    own = role_client("user").get(f"{API}/usage/").json()
    assert [r["id"] for r in own["results"]] == [mine.pk]
    assert own["results"][0]["username"] == "user-user" and Decimal(own["results"][0]["quantity"]) == 2
    assert role_client("user").get(f"{API}/usage/", {"user_id": role_users["guest"].pk}).json()["count"] == 0
    everyone = role_client("manager").get(f"{API}/usage/").json()
    assert everyone["count"] == 3
    assert role_client("manager").get(f"{API}/usage/", {"meter": "llm.tokens"}).json()["count"] == 1
    assert role_client("admin").get(f"{API}/usage/", {"user_id": role_users["guest"].pk}).json()["count"] == 1


def test_usage_summary_by_meter_user_group_and_api_key(role_client, role_users, make_api_key):
    user, guest = role_users["user"], role_users["guest"]
    key = make_api_key(user)[0]
    team = Group.objects.create(name="team-x")
    team.user_set.add(user)
    UsageDailyFactory(user=user, meter="ai.calls", quantity=Decimal(2), events=2)
    UsageDailyFactory(user=user, meter="ai.calls", quantity=Decimal(5), events=1, api_key=key)
    UsageDailyFactory(user=guest, meter="ai.calls", quantity=Decimal(1), events=1)
    UsageDailyFactory(user=guest, meter="llm.tokens", quantity=Decimal(100), events=4)
    manager = role_client("manager")

    def summary(**params):
        response = manager.get(f"{API}/usage/summary/", params)
        assert response.status_code == 200, response.content
        keep = {*params["by"].split(","), "quantity", "reports"}  # (the other grouping keys come back as null)
        return [
            {k: (Decimal(v) if k == "quantity" else v) for k, v in row.items() if k in keep} for row in response.json()
        ]

    assert summary(by="meter") == [
        {"meter": "llm.tokens", "quantity": 100, "reports": 4},
        {"meter": "ai.calls", "quantity": 8, "reports": 4},
    ]
    assert summary(by="user", meter="ai.calls") == [
        {"user": "user-user", "quantity": 7, "reports": 3},
        {"user": "guest-user", "quantity": 1, "reports": 1},
    ]
    by_group = {row["group"]: row["quantity"] for row in summary(by="group", meter="ai.calls")}
    assert by_group["team-x"] == 7 and by_group["user"] == 7 and by_group["guest"] == 1  # the role groups too
    assert summary(by="api_key", meter="ai.calls") == [
        {"api_key": key.prefix, "quantity": 5, "reports": 1},
        {"api_key": None, "quantity": 3, "reports": 3},
    ]
    assert summary(by="meter,user")[0] == {"meter": "llm.tokens", "user": "guest-user", "quantity": 100, "reports": 4}
    # a user's summary is of their own rows only
    own = role_client("user").get(f"{API}/usage/summary/", {"by": "meter"}).json()
    assert [(r["meter"], Decimal(r["quantity"])) for r in own] == [("ai.calls", 7)]
    for bad in ("colour", "meter,,colour", "day,meter,user,group"):
        assert_error_body(manager.get(f"{API}/usage/summary/", {"by": bad}), 400)


def test_usage_report_command_exports_csv(role_users):
    from django.core.management import call_command

    UsageDailyFactory(user=role_users["user"], meter="api.calls", quantity=Decimal(7))
    out = io.StringIO()
    call_command("resources_usage_report", "--by", "user,meter", "--format", "csv", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {(r["user"], r["meter"], r["quantity"]) for r in rows} >= {
        (role_users["user"].username, "api.calls", "7.000000")
    }


def test_counters_and_notices_are_own_rows_and_a_notice_is_marked_read_by_its_user(role_client, role_users):
    mine = QuotaCounterFactory(user=role_users["user"])
    QuotaCounterFactory(user=role_users["guest"])
    assert [c["id"] for c in role_client("user").get(f"{API}/quota-counters/").json()["results"]] == [mine.pk]
    assert role_client("manager").get(f"{API}/quota-counters/").json()["count"] == 2
    notice = QuotaNoticeFactory(user=role_users["user"])
    other = QuotaNoticeFactory(user=role_users["guest"])
    assert [n["id"] for n in role_client("user").get(f"{API}/quota-notices/").json()["results"]] == [notice.pk]
    assert_error_body(role_client("user").post(f"{API}/quota-notices/{other.pk}/read/"), 404)
    assert_error_body(role_client("manager").post(f"{API}/quota-notices/{notice.pk}/read/"), 403)
    response = role_client("user").post(f"{API}/quota-notices/{notice.pk}/read/")
    assert response.status_code == 200 and response.json()["read"] is True
    notice.refresh_from_db()
    assert notice.read
    assert role_client("user").get(f"{API}/my-quota/").json()["unread_notices"] == 0


def test_counters_reset_starts_the_period_again_and_never_a_level(role_client, role_users):
    user, guest = role_users["user"], role_users["guest"]
    for who in (user, guest):
        meter_record(meter="ai.calls", quantity=5, user=who)
        meter_record(meter="llm.tokens", quantity=50, user=who)
        meter_record(meter="storage.bytes", quantity=500, user=who)
    client = role_client("manager")
    response = client.post(f"{API}/quota-counters/reset/", {"period": "month", "user": user.pk, "meter": "ai.calls"})
    assert response.json() == {"reset": 1}
    used = {(c.user_id, c.meter, c.period): c.used for c in QuotaCounter.objects.all()}
    assert used[(user.pk, "ai.calls", "month")] == 0 and used[(user.pk, "ai.calls", "day")] == 5
    assert used[(guest.pk, "ai.calls", "month")] == 5 and used[(user.pk, "llm.tokens", "month")] == 50
    assert client.post(f"{API}/quota-counters/reset/", {"period": "day"}).json() == {"reset": 4}
    assert AuditLog.objects.filter(target_type="resources.quotacounter", message__startswith="Reset 4 day").exists()
    assert_error_body(client.post(f"{API}/quota-counters/reset/", {"period": "total"}), 400)
    assert_error_body(client.post(f"{API}/quota-counters/reset/", {"period": "day", "meter": "storage.bytes"}), 400)
    assert QuotaCounter.objects.get(user=user, meter="storage.bytes").used == 500
    assert UsageDaily.objects.filter(meter="ai.calls").count() == 2  # the history stays


# --- overrides and approvals ------------------------------------------------------------------------------------------


def test_an_override_at_or_below_the_plan_is_set_and_above_it_is_409(role_client, role_users):
    user = role_users["user"]
    on_plan(user, ("ai.calls", "month", 10))
    client = role_client("manager")
    url = f"{API}/quota-overrides/"
    body = {"user": user.pk, "meter": "ai.calls", "period": "month", "limit": "10"}
    assert client.post(url, body).status_code == 201
    error = assert_error_body(client.post(url, {**body, "limit": "11"}), 409, "approval_required")
    assert error["details"] == {"plan_limit": "10.000000", "requested": "11.000000"}
    assert QuotaOverride.objects.get(user=user).limit == 10
    # a meter the plan leaves unlimited takes any override
    assert client.post(url, {**body, "meter": "llm.tokens", "limit": "99999"}).status_code == 201
    # an existing (lower) override is no way around the approval
    assert client.post(url, {**body, "limit": "2"}).status_code == 201
    assert_error_body(client.post(url, {**body, "limit": "50"}), 409, "approval_required")
    override = QuotaOverride.objects.get(user=user, meter="ai.calls")
    assert override.limit == 2
    assert_error_body(client.patch(f"{url}{override.pk}/", {"limit": "50"}), 409, "approval_required")
    override.refresh_from_db()
    assert override.limit == 2


def test_an_override_above_the_token_quota_setting_needs_an_approval(role_client, role_users, settings):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 100
    user = role_users["user"]
    client = role_client("manager")
    body = {"user": user.pk, "meter": "llm.tokens", "period": "day", "limit": "50"}
    assert client.post(f"{API}/quota-overrides/", body).status_code == 201
    assert_error_body(client.post(f"{API}/quota-overrides/", {**body, "limit": "1000"}), 409, "approval_required")
    assert QuotaOverride.objects.get().limit == 50


def test_an_approved_raise_limit_sets_the_override_and_rollback_restores(role_client, role_users):
    user = role_users["user"]
    on_plan(user, ("ai.calls", "month", 10))
    QuotaOverrideFactory(user=user, meter="ai.calls", period="month", limit=Decimal(5), reason="before")
    asked = role_client("user").post(
        f"{API}/approvals/",
        {"action": "quota.raise_limit", "payload": {"meter": "ai.calls", "period": "month", "limit": "500"}},
    )
    assert asked.status_code == 201, asked.content
    approval = asked.json()
    assert approval["status"] == "requested" and approval["payload"]["user_id"] == user.pk
    assert QuotaOverride.objects.get(user=user).limit == 5  # nothing changes before the decision
    approved = role_client("manager").post(f"{API}/approvals/{approval['id']}/approve/", {"comment": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "completed", approved.content
    override = QuotaOverride.objects.get(user=user)
    assert override.limit == 500 and override.created_by == role_users["manager"]
    assert effective_limits(user_id=user.pk)[("ai.calls", "month")].limit == 500
    rolled = role_client("admin").post(f"{API}/approvals/{approval['id']}/rollback/")
    assert rolled.status_code == 200 and rolled.json()["status"] == "rolled_back", rolled.content
    override.refresh_from_db()
    assert (override.limit, override.reason) == (5, "before")
    assert effective_limits(user_id=user.pk)[("ai.calls", "month")].limit == 5


def test_rolling_back_a_first_override_deletes_it(role_client, role_users):
    user = role_users["guest"]
    on_plan(user, ("llm.tokens", "month", 100))
    approval = (
        role_client("guest")
        .post(
            f"{API}/approvals/",
            {"action": "quota.raise_limit", "payload": {"meter": "llm.tokens", "period": "month", "limit": 1000}},
        )
        .json()
    )
    role_client("admin").post(f"{API}/approvals/{approval['id']}/approve/", {})
    assert QuotaOverride.objects.get(user=user).limit == 1000
    role_client("manager").post(f"{API}/approvals/{approval['id']}/rollback/")
    assert not QuotaOverride.objects.exists()


def test_nobody_approves_their_own_raise_and_users_ask_only_for_themselves(role_client, role_users):
    manager = role_users["manager"]
    on_plan(manager, ("ai.calls", "month", 10))
    approval = (
        role_client("manager")
        .post(
            f"{API}/approvals/",
            {"action": "quota.raise_limit", "payload": {"meter": "ai.calls", "period": "month", "limit": "100"}},
        )
        .json()
    )
    assert_error_body(
        role_client("manager").post(f"{API}/approvals/{approval['id']}/approve/", {}), 403, "self_approval"
    )
    assert not QuotaOverride.objects.exists()
    # a user cannot approve at all, nor ask for someone else's limit
    other = role_client("user").post(
        f"{API}/approvals/",
        {
            "action": "quota.raise_limit",
            "payload": {"user_id": manager.pk, "meter": "ai.calls", "period": "month", "limit": "100"},
        },
    )
    assert_error_body(other, 403)
    assert_error_body(role_client("user").post(f"{API}/approvals/{approval['id']}/approve/", {}), 404)
    # a manager may ask for another user's limit
    for_user = role_client("manager").post(
        f"{API}/approvals/",
        {
            "action": "quota.raise_limit",
            "payload": {"user_id": role_users["user"].pk, "meter": "ai.calls", "period": "month", "limit": "7"},
        },
    )
    assert for_user.status_code == 201 and for_user.json()["payload"]["user_id"] == role_users["user"].pk


@pytest.mark.parametrize(
    "payload",
    [
        {"meter": "ai.calls", "period": "month", "limit": "-1"},
        {"meter": "ai.calls", "period": "month", "limit": "1000000000000001"},
        {"meter": "ai.calls", "period": "month", "limit": "lots"},
        {"meter": "coffee", "period": "month", "limit": "1"},
        {"meter": "storage.bytes", "period": "month", "limit": "1"},
        {"meter": "ai.calls", "period": "total", "limit": "1"},
        {"meter": "ai.calls", "period": "month", "limit": "1", "expires_at": "2030-01-01T00:00:00"},
        {"meter": "ai.calls", "period": "month", "limit": "1", "expires_at": "2001-01-01T00:00:00Z"},
        {"meter": "ai.calls", "period": "month", "limit": "1", "user_id": 99999999},
    ],
)
def test_a_bad_raise_limit_request_is_400(role_client, payload):
    response = role_client("user").post(f"{API}/approvals/", {"action": "quota.raise_limit", "payload": payload})
    assert_error_body(response, 400)
    from apps.resources.models import ApprovalRequest

    assert not ApprovalRequest.objects.exists()


# --- bad input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "1000000000000001"}, "limit"),
        ({"limit": "NaN"}, "limit"),
        ({"meter": "coffee.cups"}, "meter"),
        ({"meter": "storage.bytes", "period": "month"}, "period"),
        ({"meter": "ai.calls", "period": "total"}, "period"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"user": 99999999}, "user"),
    ],
)
def test_a_bad_override_is_400_and_writes_nothing(role_client, role_users, changes, field):
    body = {"user": role_users["user"].pk, "meter": "ai.calls", "period": "month", "limit": "3", **changes}
    error = assert_error_body(role_client("manager").post(f"{API}/quota-overrides/", body), 400)
    assert field in error["details"], error
    assert not QuotaOverride.objects.exists()
    assert not AuditLog.objects.filter(target_type="resources.quotaoverride").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "1000000000000001"}, "limit"),
        ({"meter": "coffee.cups"}, "meter"),
        ({"meter": "storage.bytes", "period": "month"}, "period"),
        ({"meter": "ai.calls", "period": "total"}, "period"),
        ({"plan": 99999999}, "plan"),
    ],
)
def test_a_bad_plan_limit_is_400_and_writes_nothing(role_client, changes, field):
    plan = PlanFactory()
    body = {"plan": plan.pk, "meter": "ai.calls", "period": "month", "limit": "3", **changes}
    error = assert_error_body(role_client("manager").post(f"{API}/plan-limits/", body), 400)
    assert field in error["details"], error
    assert not PlanLimit.objects.filter(plan=plan).exists()


def test_a_duplicate_plan_limit_and_a_bad_assignment_are_400(role_client, role_users):
    plan = PlanFactory()
    PlanLimitFactory(plan=plan, meter="ai.calls", period="month")
    client = role_client("manager")
    duplicate = {"plan": plan.pk, "meter": "ai.calls", "period": "month", "limit": "3"}
    assert_error_body(client.post(f"{API}/plan-limits/", duplicate), 400)
    group = Group.objects.create(name="g")
    both = {"plan": plan.pk, "user": role_users["user"].pk, "group": group.pk}
    assert_error_body(client.post(f"{API}/plan-assignments/", both), 400)
    assert_error_body(client.post(f"{API}/plan-assignments/", {"plan": plan.pk}), 400)
    inactive = PlanFactory(active=False)
    assert_error_body(
        client.post(f"{API}/plan-assignments/", {"plan": inactive.pk, "user": role_users["user"].pk}), 400
    )
    assert not PlanAssignment.objects.exists()
    assert_error_body(client.post(f"{API}/plans/", {"code": "has space", "name": "x"}), 400)


def test_assigning_a_plan_replaces_the_users_plan_and_applies_at_once(role_client, role_users):
    user = role_users["user"]
    first, second = PlanFactory(), PlanFactory()
    PlanLimitFactory(plan=second, meter="ai.calls", period="day", limit=Decimal(1))
    client = role_client("manager")
    assert client.post(f"{API}/plan-assignments/", {"plan": first.pk, "user": user.pk}).status_code == 201
    assert effective_limits(user_id=user.pk) == {}
    response = client.post(f"{API}/plan-assignments/", {"plan": second.pk, "user": user.pk})
    assert response.status_code == 201 and response.json()["assigned_by"] == role_users["manager"].pk
    assert PlanAssignment.objects.get(user=user).plan == second
    assert effective_limits(user_id=user.pk)[("ai.calls", "day")].limit == 1
    assert role_client("user").get(f"{API}/my-quota/").json()["plan"] == second.code


# --- query counts -----------------------------------------------------------------------------------------------------


def _queries(client, url):
    client.get(url)  # warm the caches of the permission and limit reads
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize(
    "path",
    ["plans/", "plan-limits/", "plan-assignments/", "quota-overrides/", "usage/", "quota-counters/", "quota-notices/"],
)
def test_list_query_counts_do_not_grow_with_the_rows(role_client, role_users, make_user, path):
    client = role_client("manager")

    def add(n):
        for _ in range(n):
            user = make_user(role="user")
            plan = PlanFactory()
            PlanLimitFactory(plan=plan)
            PlanAssignmentFactory(plan=plan, user=user)
            QuotaOverrideFactory(user=user)
            UsageDailyFactory(user=user)
            QuotaCounterFactory(user=user)
            QuotaNoticeFactory(user=user)

    add(2)
    few = _queries(client, f"{API}/{path}")
    add(5)
    assert _queries(client, f"{API}/{path}") == few
    assert few <= 8, few


def test_my_quota_query_count_is_bounded(role_client, role_users):
    user = role_users["user"]
    on_plan(user, ("ai.calls", "month", 10), ("llm.tokens", "day", 10), ("storage.bytes", "total", 10))
    client = role_client("user")
    assert _queries(client, f"{API}/my-quota/") <= 12
    assert QuotaNotice.objects.count() == 0


def test_a_plan_limit_changed_to_a_wrong_period_is_400(role_client):
    limit = PlanLimitFactory(plan=PlanFactory(), meter="storage.bytes", period="total", limit=Decimal(5))
    error = assert_error_body(role_client("manager").patch(f"{API}/plan-limits/{limit.pk}/", {"period": "day"}), 400)
    assert "period" in error["details"]
    limit.refresh_from_db()
    assert limit.period == "total"


def test_an_override_expiry_with_an_offset_is_kept_in_utc(role_client, role_users):
    body = {
        "user": role_users["user"].pk,
        "meter": "ai.calls",
        "period": "month",
        "limit": "3",
        "expires_at": "2031-01-01T08:00:00+08:00",
    }
    assert role_client("manager").post(f"{API}/quota-overrides/", body).status_code == 201
    assert QuotaOverride.objects.get().expires_at == dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
