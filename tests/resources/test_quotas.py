"""Quotas: which limit applies (override > user plan > group plans, most generous > default plan > the daily token
quota setting) and when the cached answer is forgotten; reservations against real PostgreSQL (exact meters refuse
the last unit, estimates take what is left, settle and release give the hold back once, expired holds are released
once, a refusal on one meter leaves nothing half-reserved, system work is never limited, periods roll over); the
API-call meter through the in-process counter store."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.core.exceptions import QuotaExceeded, ValidationFailed
from apps.resources.counters import counter_store
from apps.resources.models import Plan, PlanLimit, QuotaCounter, QuotaHold, UsageDaily
from apps.resources.periods import LEVEL_START, period_resets_at, period_start
from apps.resources.selectors.quotas import (
    effective_limits,
    exhaustion_forecast,
    limits_forget_local,
    plan_of,
    quota_status,
)
from apps.resources.services.api_calls import api_call_count, api_calls_flush
from apps.resources.services.metering import meter_record
from apps.resources.services.quotas import (
    holds_expire,
    metered,
    quota_check,
    quota_release,
    quota_reserve,
    quota_settle,
)
from tests.resources.factories import (
    PlanAssignmentFactory,
    PlanFactory,
    PlanLimitFactory,
    QuotaOverrideFactory,
    UsageDailyFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits():
    limits_forget_local()
    yield
    limits_forget_local()


@pytest.fixture
def store(settings):
    settings.RESOURCES_COUNTER_URL = ""
    counter_store().reset()
    yield counter_store()
    counter_store().reset()


def plan_with(*limits, code=None):
    plan = PlanFactory(**({"code": code} if code else {}))
    for meter, period, limit in limits:
        PlanLimitFactory(plan=plan, meter=meter, period=period, limit=Decimal(limit))
    return plan


def on_plan(user, *limits):
    plan = plan_with(*limits)
    PlanAssignmentFactory(plan=plan, user=user)
    return plan


def limit_of(user, meter, period):
    found = effective_limits(user_id=user.pk).get((meter, period))
    return None if found is None else (found.limit, found.source, found.plan)


def counter(user, meter, period="month", at=None):
    return QuotaCounter.objects.filter(
        user=user, meter=meter, period=period, period_start=period_start(period, at)
    ).first()


def next_month(at=None):
    first = (at or timezone.now()).date().replace(day=1)
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(nxt, dt.time(10), tzinfo=dt.UTC)


# --- effective limits -------------------------------------------------------------------------------------------------


def test_the_installed_plans_and_a_user_without_a_plan(make_user):
    assert set(Plan.objects.values_list("code", flat=True)) >= {"default", "free", "basic", "pro", "enterprise"}
    assert Plan.objects.get(is_default=True).code == "default"
    free = dict(
        ((m, p), v) for m, p, v in PlanLimit.objects.filter(plan__code="free").values_list("meter", "period", "limit")
    )
    assert free == {
        ("storage.bytes", "total"): Decimal(1024**3),
        ("storage.documents", "total"): Decimal(100),
        ("api.calls", "month"): Decimal(1000),
        ("ai.calls", "month"): Decimal(100),
    }
    user = make_user(role="user")
    assert effective_limits(user_id=user.pk) == {}  # the default plan limits nothing
    assert plan_of(user_id=user.pk).code == "default"


def test_the_default_plan_applies_to_everyone_without_a_plan(make_user):
    PlanLimitFactory(plan=Plan.objects.get(code="default"), meter="ai.calls", period="day", limit=Decimal(7))
    user = make_user(role="user")
    assert limit_of(user, "ai.calls", "day") == (Decimal(7), "default_plan", "default")


def test_a_user_plan_wins_over_the_default_plan_and_leaves_unlisted_meters_unlimited(make_user):
    PlanLimitFactory(plan=Plan.objects.get(code="default"), meter="ai.calls", period="day", limit=Decimal(7))
    user = make_user(role="user")
    plan = on_plan(user, ("llm.tokens", "month", 500))
    assert limit_of(user, "llm.tokens", "month") == (Decimal(500), "user_plan", plan.code)
    assert limit_of(user, "ai.calls", "day") is None
    assert plan_of(user_id=user.pk) == plan


def test_group_plans_give_the_most_generous_limit_per_meter(make_user):
    user = make_user(role="user")
    small = plan_with(("ai.calls", "month", 10), ("llm.tokens", "month", 9000), code="g-small")
    large = plan_with(("ai.calls", "month", 50), ("llm.tokens", "month", 1000), code="g-large")
    for name, plan in (("team-a", small), ("team-b", large)):
        group = Group.objects.create(name=name)
        group.user_set.add(user)
        PlanAssignmentFactory(plan=plan, user=None, group=group)
    assert limit_of(user, "ai.calls", "month") == (Decimal(50), "group_plan", "g-large")
    assert limit_of(user, "llm.tokens", "month") == (Decimal(9000), "group_plan", "g-small")
    assert plan_of(user_id=user.pk) == large  # the first by code


def test_a_group_plan_that_leaves_a_meter_out_leaves_it_unlimited(make_user):
    user = make_user(role="user")
    limited = plan_with(("ai.calls", "month", 10), ("storage.bytes", "total", 100))
    open_plan = plan_with(("storage.bytes", "total", 50))
    for name, plan in (("limited", limited), ("open", open_plan)):
        group = Group.objects.create(name=name)
        group.user_set.add(user)
        PlanAssignmentFactory(plan=plan, user=None, group=group)
    assert limit_of(user, "ai.calls", "month") is None
    assert limit_of(user, "storage.bytes", "total")[0] == Decimal(100)


def test_a_group_plan_wins_over_the_default_and_a_user_plan_over_group_plans(make_user):
    PlanLimitFactory(plan=Plan.objects.get(code="default"), meter="ai.calls", period="month", limit=Decimal(1))
    user = make_user(role="user")
    group = Group.objects.create(name="team")
    group.user_set.add(user)
    PlanAssignmentFactory(plan=plan_with(("ai.calls", "month", 20)), user=None, group=group)
    assert limit_of(user, "ai.calls", "month")[:2] == (Decimal(20), "group_plan")
    on_plan(user, ("ai.calls", "month", 5))
    assert limit_of(user, "ai.calls", "month")[:2] == (Decimal(5), "user_plan")


def test_an_override_wins_over_every_plan_until_it_expires(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 5))
    override = QuotaOverrideFactory(user=user, meter="ai.calls", period="month", limit=Decimal(2))
    assert limit_of(user, "ai.calls", "month") == (Decimal(2), "override", "")
    override.expires_at = timezone.now() - dt.timedelta(seconds=1)
    override.save()
    assert limit_of(user, "ai.calls", "month")[:2] == (Decimal(5), "user_plan")
    QuotaOverrideFactory(
        user=user, meter="llm.tokens", period="day", limit=Decimal(9), expires_at=timezone.now() + dt.timedelta(days=1)
    )
    assert limit_of(user, "llm.tokens", "day")[:2] == (Decimal(9), "override")


def test_an_inactive_plan_is_no_plan(make_user):
    user = make_user(role="user")
    plan = on_plan(user, ("ai.calls", "month", 5))
    Plan.objects.filter(pk=plan.pk).update(active=False)
    limits_forget_local()
    from django.core.cache import cache

    cache.clear()
    assert limit_of(user, "ai.calls", "month") is None


def test_the_token_quota_setting_is_the_default_plans_daily_token_limit(make_user, settings):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 300
    user = make_user(role="user")
    assert limit_of(user, "llm.tokens", "day") == (Decimal(300), "setting", "")
    # the default plan's own daily token limit wins over the setting
    limit = PlanLimitFactory(plan=Plan.objects.get(code="default"), meter="llm.tokens", period="day", limit=Decimal(50))
    assert limit_of(user, "llm.tokens", "day")[:2] == (Decimal(50), "default_plan")
    limit.delete()
    # a plan of one's own (or a group's) is not the default plan: the setting does not apply
    on_plan(user, ("ai.calls", "month", 10))
    assert limit_of(user, "llm.tokens", "day") is None
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 0
    assert limit_of(make_user(role="user"), "llm.tokens", "day") is None


def test_the_token_quota_setting_does_not_limit_a_plan_without_limits(make_user, settings):
    """Enterprise ("no limits") is a plan of the user's own: the default plan's setting is not theirs."""
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 300
    user = make_user(role="user")
    PlanAssignmentFactory(plan=Plan.objects.get(code="enterprise"), user=user)
    assert limit_of(user, "llm.tokens", "day") is None
    grouped = make_user(role="user")
    group = Group.objects.create(name="unlimited-team")
    group.user_set.add(grouped)
    PlanAssignmentFactory(plan=Plan.objects.get(code="enterprise"), user=None, group=group)
    assert limit_of(grouped, "llm.tokens", "day") is None


def test_the_token_quota_setting_still_applies_beside_an_override_of_another_meter(make_user, settings):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 300
    user = make_user(role="user")
    QuotaOverrideFactory(user=user, meter="ai.calls", period="month", limit=Decimal(3))
    assert limit_of(user, "llm.tokens", "day") == (Decimal(300), "setting", "")


# --- the cached limits are forgotten on every change ------------------------------------------------------------------


def test_the_cache_forgets_a_plan_limit_change(make_user, django_assert_num_queries):
    user = make_user(role="user")
    plan = on_plan(user, ("ai.calls", "month", 5))
    assert limit_of(user, "ai.calls", "month")[0] == Decimal(5)
    with django_assert_num_queries(0):  # cached
        assert limit_of(user, "ai.calls", "month")[0] == Decimal(5)
    limit = plan.limits.get()
    limit.limit = Decimal(8)
    limit.save()
    assert limit_of(user, "ai.calls", "month")[0] == Decimal(8)
    PlanLimitFactory(plan=plan, meter="llm.tokens", period="day", limit=Decimal(1))
    assert limit_of(user, "llm.tokens", "day")[0] == Decimal(1)
    limit.delete()
    assert limit_of(user, "ai.calls", "month") is None


def test_the_cache_forgets_an_assignment_change(make_user):
    user = make_user(role="user")
    assignment = PlanAssignmentFactory(plan=plan_with(("ai.calls", "month", 5)), user=user)
    assert limit_of(user, "ai.calls", "month")[0] == Decimal(5)
    assignment.plan = plan_with(("ai.calls", "month", 6))
    assignment.save()
    assert limit_of(user, "ai.calls", "month")[0] == Decimal(6)
    assignment.delete()
    assert limit_of(user, "ai.calls", "month") is None


def test_the_cache_forgets_an_override_change(make_user):
    user = make_user(role="user")
    assert limit_of(user, "ai.calls", "month") is None
    override = QuotaOverrideFactory(user=user, limit=Decimal(4))
    assert limit_of(user, "ai.calls", "month")[0] == Decimal(4)
    override.limit = Decimal(1)
    override.save()
    assert limit_of(user, "ai.calls", "month")[0] == Decimal(1)
    override.delete()
    assert limit_of(user, "ai.calls", "month") is None


def test_the_cache_forgets_a_group_membership_change(make_user):
    user = make_user(role="user")
    group = Group.objects.create(name="paying")
    PlanAssignmentFactory(plan=plan_with(("ai.calls", "month", 40)), user=None, group=group)
    assert limit_of(user, "ai.calls", "month") is None
    group.user_set.add(user)
    assert limit_of(user, "ai.calls", "month")[0] == Decimal(40)
    user.groups.remove(group)
    assert limit_of(user, "ai.calls", "month") is None
    user.groups.add(group)
    assert limit_of(user, "ai.calls", "month")[0] == Decimal(40)
    group.user_set.clear()
    assert limit_of(user, "ai.calls", "month") is None


# --- reservations -----------------------------------------------------------------------------------------------------


def test_an_exact_meter_refuses_the_last_unit_with_the_details_and_retry_after(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 3))
    holds = [quota_reserve(user=user, amounts={"ai.calls": 1}, purpose="t") for _ in range(3)]
    assert all(h.record is not None for h in holds)
    assert (counter(user, "ai.calls").used, counter(user, "ai.calls").reserved) == (0, 3)
    now = timezone.now()
    with pytest.raises(QuotaExceeded) as info:
        quota_reserve(user=user, amounts={"ai.calls": 1}, at=now)
    error = info.value
    resets = period_resets_at("month", period_start("month", now))
    assert (error.status_code, error.code) == (429, "quota_exceeded")
    assert error.details == {
        "meter": "ai.calls",
        "period": "month",
        "limit": "3",
        "used": "0",
        "reserved": "3",
        "requested": "1",
        "source": "user_plan",
        "resets_at": resets.isoformat(),
    }
    retry = int(error.headers["Retry-After"])
    assert abs(retry - (resets - now).total_seconds()) <= 2 and retry > 0
    assert "AI calls" in error.message and "resets at" in error.message
    assert QuotaHold.objects.count() == 3 and counter(user, "ai.calls").reserved == 3


def test_a_whole_amount_that_does_not_fit_is_refused_even_with_room_left(make_user):
    user = make_user(role="user")
    on_plan(user, ("storage.bytes", "total", 100))
    quota_reserve(user=user, amounts={"storage.bytes": 60})
    with pytest.raises(QuotaExceeded) as info:
        quota_reserve(user=user, amounts={"storage.bytes": 41})
    assert info.value.details["resets_at"] is None and "Retry-After" not in info.value.headers  # a level
    quota_reserve(user=user, amounts={"storage.bytes": 40})
    assert counter(user, "storage.bytes", "total").reserved == 100


def test_estimate_meters_take_what_is_left(make_user):
    user = make_user(role="user")
    on_plan(user, ("llm.tokens", "month", 100))
    first = quota_reserve(user=user, amounts={"llm.tokens": 80}, estimates=["llm.tokens"])
    second = quota_reserve(user=user, amounts={"llm.tokens": 50}, estimates=["llm.tokens"])
    assert first.record.lines["llm.tokens/month"]["amount"] == "80.000000"
    assert Decimal(second.record.lines["llm.tokens/month"]["amount"]) == 20
    assert counter(user, "llm.tokens").reserved == 100
    with pytest.raises(QuotaExceeded) as info:  # nothing left at all
        quota_reserve(user=user, amounts={"llm.tokens": 1}, estimates=["llm.tokens"])
    assert info.value.details["reserved"] == "100"
    # the actual may pass the limit by one piece of work
    quota_settle(hold=second, amounts={"llm.tokens": 70})
    assert (counter(user, "llm.tokens").used, counter(user, "llm.tokens").reserved) == (70, 80)


def test_settle_gives_the_hold_back_and_records_the_actual(make_user, make_api_key):
    user = make_user(role="user")
    key = make_api_key(user)[0]
    on_plan(user, ("llm.tokens", "month", 1000), ("ai.calls", "day", 10))
    hold = quota_reserve(user=user, amounts={"llm.tokens": 500, "ai.calls": 1}, api_key=key, purpose="chat")
    assert hold.record.purpose == "chat" and hold.record.status == "held" and hold.record.api_key == key
    assert set(hold.record.lines) == {"llm.tokens/month", "ai.calls/day"}
    quota_settle(hold=hold, amounts={"llm.tokens": 321, "ai.calls": 1}, dimension="gpt")
    tokens = counter(user, "llm.tokens")
    assert (tokens.used, tokens.reserved) == (321, 0)
    assert (counter(user, "ai.calls", "day").used, counter(user, "ai.calls", "day").reserved) == (1, 0)
    row = UsageDaily.objects.get(meter="llm.tokens")
    assert (row.user, row.api_key, row.dimension, row.quantity) == (user, key, "gpt", 321)
    hold.record.refresh_from_db()
    assert hold.record.status == "settled" and hold.record.closed_at is not None


def test_release_gives_the_hold_back_and_records_nothing(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 1))
    hold = quota_reserve(user=user, amounts={"ai.calls": 1})
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user, amounts={"ai.calls": 1})
    quota_release(hold=hold)
    assert (counter(user, "ai.calls").used, counter(user, "ai.calls").reserved) == (0, 0)
    assert not UsageDaily.objects.exists()
    hold.record.refresh_from_db()
    assert hold.record.status == "released"
    quota_reserve(user=user, amounts={"ai.calls": 1})  # the call is free again


def test_a_hold_is_given_back_once_whatever_closes_it_twice(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 10))
    first = quota_reserve(user=user, amounts={"ai.calls": 3})
    quota_reserve(user=user, amounts={"ai.calls": 4})  # another piece of work still holding
    quota_settle(hold=first, amounts={"ai.calls": 3})
    assert counter(user, "ai.calls").reserved == 4
    quota_settle(hold=first, amounts={})
    quota_release(hold=first)
    assert counter(user, "ai.calls").reserved == 4
    # a second process holding its own copy of the same hold cannot give it back again either
    from apps.resources.services.quotas import Hold

    copy = Hold(
        user_id=user.pk, api_key_id=None, purpose="", amounts={}, record=QuotaHold.objects.get(pk=first.record.pk)
    )
    quota_release(hold=copy)
    assert holds_expire(now=timezone.now() + dt.timedelta(days=2)) == 1  # only the other hold
    assert counter(user, "ai.calls").reserved == 0 and counter(user, "ai.calls").used == 3


def test_expired_holds_are_released_once(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 5))
    hold = quota_reserve(user=user, amounts={"ai.calls": 2}, ttl_seconds=60)
    live = quota_reserve(user=user, amounts={"ai.calls": 1}, ttl_seconds=3600)
    assert hold.record.expires_at - hold.record.created_at <= dt.timedelta(seconds=61)
    assert holds_expire() == 0
    later = timezone.now() + dt.timedelta(minutes=2)
    assert holds_expire(now=later) == 1
    assert counter(user, "ai.calls").reserved == 1
    assert holds_expire(now=later) == 0
    assert counter(user, "ai.calls").reserved == 1
    # the late settle of the expired hold records its usage but gives nothing back twice
    quota_settle(hold=hold, amounts={"ai.calls": 2})
    assert (counter(user, "ai.calls").used, counter(user, "ai.calls").reserved) == (2, 1)
    hold.record.refresh_from_db()
    assert hold.record.status == "released"
    live.record.refresh_from_db()
    assert live.record.status == "held"


def test_a_ttl_under_a_minute_is_a_minute(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 5))
    hold = quota_reserve(user=user, amounts={"ai.calls": 1}, ttl_seconds=1)
    assert holds_expire(now=timezone.now() + dt.timedelta(seconds=30)) == 0
    assert hold.record.expires_at > timezone.now() + dt.timedelta(seconds=50)


def test_a_refusal_on_one_meter_undoes_the_others(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 10), ("ai.calls", "day", 10), ("llm.tokens", "month", 5))
    with pytest.raises(QuotaExceeded) as info:
        quota_reserve(user=user, amounts={"ai.calls": 1, "llm.tokens": 6})
    assert info.value.details["meter"] == "llm.tokens"
    # the counters the refused reservation created and took from are rolled back with it
    assert not QuotaCounter.objects.exists() and not QuotaHold.objects.exists()
    # and the other way round: tokens fit, the daily call limit does not
    meter_record(meter="ai.calls", quantity=10, user=user)
    with pytest.raises(QuotaExceeded) as info:
        quota_reserve(user=user, amounts={"ai.calls": 1, "llm.tokens": 1})
    assert (info.value.details["meter"], info.value.details["period"]) == ("ai.calls", "day")
    assert counter(user, "llm.tokens") is None and counter(user, "ai.calls").reserved == 0
    assert not QuotaHold.objects.exists()


def test_a_daily_and_a_monthly_limit_are_both_held(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 2), ("ai.calls", "day", 5))
    quota_reserve(user=user, amounts={"ai.calls": 1})
    quota_reserve(user=user, amounts={"ai.calls": 1})
    assert counter(user, "ai.calls", "day").reserved == 2
    with pytest.raises(QuotaExceeded) as info:
        quota_reserve(user=user, amounts={"ai.calls": 1})
    assert info.value.details["period"] == "month"
    assert counter(user, "ai.calls", "day").reserved == 2


def test_unlimited_meters_are_not_reserved(make_user):
    user = make_user(role="user")
    hold = quota_reserve(user=user, amounts={"ai.calls": 1, "llm.tokens": 10**9})
    assert hold.record is None and not QuotaCounter.objects.exists() and not QuotaHold.objects.exists()
    quota_settle(hold=hold, amounts={"ai.calls": 1})
    assert UsageDaily.objects.get().quantity == 1


def test_system_work_is_never_limited(make_user):
    PlanLimitFactory(plan=Plan.objects.get(code="default"), meter="ai.calls", period="month", limit=Decimal(0))
    hold = quota_reserve(user=None, amounts={"ai.calls": 1000})
    assert hold.record is None and hold.user_id is None
    quota_check(user=None, amounts={"ai.calls": 1000})
    quota_settle(hold=hold, amounts={"ai.calls": 1000})
    assert UsageDaily.objects.get().user_id is None and not QuotaCounter.objects.exists()
    # a real user on the same plan is refused
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=make_user(role="user"), amounts={"ai.calls": 1})


def test_a_reservation_takes_a_user_id_too(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 1))
    quota_reserve(user=user.pk, amounts={"ai.calls": 1})
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user.pk, amounts={"ai.calls": 1})


def test_the_next_month_starts_at_zero(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 3))
    meter_record(meter="ai.calls", quantity=3, user=user)
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user, amounts={"ai.calls": 1})
    later = next_month()
    hold = quota_reserve(user=user, amounts={"ai.calls": 1}, at=later)
    fresh = counter(user, "ai.calls", at=later)
    assert fresh.period_start == later.date() and (fresh.used, fresh.reserved) == (0, 1)
    quota_settle(hold=hold, amounts={"ai.calls": 1}, at=later)
    assert counter(user, "ai.calls", at=later).used == 1 and counter(user, "ai.calls").used == 3
    quota_check(user=user, amounts={"ai.calls": 2}, at=later)
    with pytest.raises(QuotaExceeded):
        quota_check(user=user, amounts={"ai.calls": 3}, at=later)


def test_a_level_does_not_roll_over(make_user):
    user = make_user(role="user")
    on_plan(user, ("storage.documents", "total", 2))
    meter_record(meter="storage.documents", quantity=2, user=user)
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user, amounts={"storage.documents": 1}, at=next_month())
    assert QuotaCounter.objects.get(user=user).period_start == LEVEL_START


def test_quota_check_refuses_without_reserving(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 2))
    quota_check(user=user, amounts={"ai.calls": 2})
    assert not QuotaCounter.objects.exists()
    quota_reserve(user=user, amounts={"ai.calls": 1})
    meter_record(meter="ai.calls", quantity=1, user=user)
    with pytest.raises(QuotaExceeded) as info:
        quota_check(user=user, amounts={"ai.calls": 1})
    assert (info.value.details["used"], info.value.details["reserved"]) == ("1", "1")
    assert counter(user, "ai.calls").reserved == 1


def test_bad_amounts_are_400_before_anything_is_reserved(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 2))
    for amounts in ({"ai.calls": -1}, {"nope": 1}, {"ai.calls": "NaN"}, {"ai.calls": 10**16}):
        with pytest.raises(ValidationFailed):
            quota_reserve(user=user, amounts=amounts)
    assert not QuotaCounter.objects.exists() and not QuotaHold.objects.exists()


def test_a_limit_of_zero_refuses_everything(make_user):
    user = make_user(role="user")
    on_plan(user, ("compute.cpu_seconds", "month", 0))
    with pytest.raises(QuotaExceeded) as info:
        quota_check(user=user, amounts={"compute.cpu_seconds": 1})
    assert info.value.details["limit"] == "0"
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user, amounts={"compute.cpu_seconds": "0.001"}, estimates=["compute.cpu_seconds"])


def test_metered_settles_with_the_actual_and_releases_on_error(make_user):
    user = make_user(role="user")
    on_plan(user, ("agent.steps", "day", 10))
    with metered(user=user, amounts={"agent.steps": 5}, purpose="agent") as metering:
        assert counter(user, "agent.steps", "day").reserved == 5
        metering.actual = {"agent.steps": 3}
        metering.dimension = "planner"
    assert (counter(user, "agent.steps", "day").used, counter(user, "agent.steps", "day").reserved) == (3, 0)
    assert UsageDaily.objects.get().dimension == "planner"
    with pytest.raises(RuntimeError), metered(user=user, amounts={"agent.steps": 5}):
        raise RuntimeError("boom")
    assert (counter(user, "agent.steps", "day").used, counter(user, "agent.steps", "day").reserved) == (3, 0)
    with metered(user=user, amounts={"agent.steps": 2}):
        pass  # no actual: the estimate is recorded
    assert counter(user, "agent.steps", "day").used == 5


# --- quota status ---------------------------------------------------------------------------------------------------


def test_quota_status_lists_each_limit_with_what_is_used_held_and_left(make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 10), ("storage.bytes", "total", 1000))
    meter_record(meter="ai.calls", quantity=4, user=user)
    quota_reserve(user=user, amounts={"ai.calls": 2})
    lines = {(line.meter, line.period): line for line in quota_status(user_id=user.pk)}
    assert set(lines) == {("ai.calls", "month"), ("storage.bytes", "total")}
    calls = lines[("ai.calls", "month")]
    assert (calls.limit, calls.used, calls.reserved, calls.remaining, calls.source) == (10, 4, 2, 4, "user_plan")
    assert calls.ratio == 0.4
    assert calls.resets_at == period_resets_at("month", period_start("month"))
    storage = lines[("storage.bytes", "total")]
    assert (storage.used, storage.remaining, storage.resets_at, storage.exhausted_on) == (0, 1000, None, None)


def test_exhaustion_forecast(make_user):
    user = make_user(role="user")
    now = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    today = now.date()
    forecast = exhaustion_forecast
    assert (
        forecast(user_id=user.pk, meter="ai.calls", period="month", limit=Decimal(10), used=Decimal(10), at=now)
        == today
    )
    assert (
        forecast(user_id=user.pk, meter="ai.calls", period="month", limit=Decimal(10), used=Decimal(1), at=now) is None
    )
    for back in range(14):  # 10 a day over the last 14 days
        UsageDailyFactory(user=user, meter="ai.calls", day=today - dt.timedelta(days=back), quantity=Decimal(10))
    # 100 left at 10 a day: ten days on, within March
    assert forecast(
        user_id=user.pk, meter="ai.calls", period="month", limit=Decimal(200), used=Decimal(100), at=now
    ) == dt.date(2026, 3, 20)
    # past the end of the month: not this period
    assert (
        forecast(user_id=user.pk, meter="ai.calls", period="month", limit=Decimal(1000), used=Decimal(100), at=now)
        is None
    )
    # a daily limit runs out today only if today's pace reaches it (12 hours gone, 10 used: 20 a day)
    day = dict(user_id=user.pk, meter="ai.calls", period="day", used=Decimal(10), at=now)
    assert forecast(limit=Decimal(20), **day) == today
    assert forecast(limit=Decimal(21), **day) is None


# --- the API-call meter -----------------------------------------------------------------------------------------------


def test_api_calls_are_counted_in_the_store_and_flushed_for_user_and_key(make_user, make_api_key, store):
    user = make_user(role="user")
    key = make_api_key(user)[0]
    for _ in range(3):
        api_call_count(user_id=user.pk)
    api_call_count(user_id=user.pk, api_key_id=key.pk)
    assert not UsageDaily.objects.exists()  # nothing reaches the database per request
    assert api_calls_flush() == {"rows": 2, "requests": 4}
    rows = {r.api_key_id: (r.quantity, r.events) for r in UsageDaily.objects.filter(meter="api.calls")}
    assert rows == {None: (3, 3), key.pk: (1, 1)}
    assert counter(user, "api.calls").used == 4 and counter(user, "api.calls", "day").used == 4
    assert api_calls_flush() == {"rows": 0, "requests": 0}  # taken once
    api_call_count(user_id=user.pk)
    api_calls_flush()
    assert UsageDaily.objects.get(meter="api.calls", api_key=None).quantity == 4


def test_an_api_calls_limit_is_exact_and_seeded_from_the_database(make_user, store):
    user = make_user(role="user")
    on_plan(user, ("api.calls", "month", 5))
    meter_record(meter="api.calls", quantity=2, user=user)  # flushed earlier
    for _ in range(3):
        api_call_count(user_id=user.pk)
    with pytest.raises(QuotaExceeded) as info:
        api_call_count(user_id=user.pk)
    assert info.value.details["meter"] == "api.calls" and info.value.details["limit"] == "5"
    assert int(info.value.headers["Retry-After"]) > 0
    assert api_calls_flush()["requests"] == 3  # the refused request is not counted
    assert counter(user, "api.calls").used == 5


def test_a_new_month_has_a_new_api_calls_total(make_user, store):
    user = make_user(role="user")
    on_plan(user, ("api.calls", "month", 1))
    api_call_count(user_id=user.pk)
    with pytest.raises(QuotaExceeded):
        api_call_count(user_id=user.pk)
    api_call_count(user_id=user.pk, at=next_month())
