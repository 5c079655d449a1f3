"""Metering (apps.resources.services.metering): daily aggregates upserted per day, meter, user, API key and
dimension; the per-period counters quotas read (day and month for counters, total for levels); bad reports refused
with 400 and nothing written; usage of a user who no longer exists kept unattributed; threshold notices once per
period. Real PostgreSQL: the upserts are ON CONFLICT statements."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.exceptions import ValidationFailed
from apps.resources.models import QuotaCounter, QuotaNotice, UsageDaily
from apps.resources.periods import LEVEL_START, period_start
from apps.resources.selectors.quotas import limits_forget_local
from apps.resources.services.metering import UsageLine, meter_record, notices_check, usage_report, usage_write
from tests.resources.factories import PlanAssignmentFactory, PlanFactory, PlanLimitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits():
    limits_forget_local()
    yield
    limits_forget_local()


def counters(user, meter):
    return {
        (c.period, c.period_start): c.used for c in QuotaCounter.objects.filter(user=user, meter=meter).order_by("id")
    }


def next_month(at: dt.datetime | None = None) -> dt.datetime:
    now = at or timezone.now()
    first = now.date().replace(day=1)
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(nxt, dt.time(9), tzinfo=dt.UTC)


# --- daily aggregation ------------------------------------------------------------------------------------------------


def test_two_reports_of_the_same_key_are_one_row_summed_with_events_counted(make_user):
    user = make_user(role="user")
    meter_record(meter="ai.calls", quantity=2, user=user)
    meter_record(meter="ai.calls", quantity=3, user=user, events=4)
    [row] = UsageDaily.objects.all()
    assert (row.user, row.meter, row.quantity, row.events) == (user, "ai.calls", Decimal(5), 5)
    assert row.day == timezone.now().astimezone(dt.UTC).date() and row.dimension == "" and row.api_key is None


def test_each_dimension_and_api_key_is_its_own_row(make_user, make_api_key):
    user = make_user(role="user")
    key = make_api_key(user)[0]
    other_key = make_api_key(user, name="second")[0]
    meter_record(meter="llm.tokens", quantity=10, user=user, dimension="gpt-a")
    meter_record(meter="llm.tokens", quantity=20, user=user, dimension="gpt-b")
    meter_record(meter="llm.tokens", quantity=30, user=user, dimension="gpt-a", api_key=key)
    meter_record(meter="llm.tokens", quantity=40, user=user, dimension="gpt-a", api_key=other_key.pk)
    meter_record(meter="llm.tokens", quantity=1, user=user, dimension="gpt-a")
    rows = {(r.dimension, r.api_key_id): (r.quantity, r.events) for r in UsageDaily.objects.all()}
    assert rows == {
        ("gpt-a", None): (Decimal(11), 2),
        ("gpt-b", None): (Decimal(20), 1),
        ("gpt-a", key.pk): (Decimal(30), 1),
        ("gpt-a", other_key.pk): (Decimal(40), 1),
    }
    # whatever the rows, the user's counters add it all up
    today = timezone.now()
    assert counters(user, "llm.tokens") == {
        ("day", period_start("day", today)): Decimal(101),
        ("month", period_start("month", today)): Decimal(101),
    }


def test_another_day_is_another_row_and_another_day_counter(make_user):
    user = make_user(role="user")
    now = timezone.now()
    yesterday = now - dt.timedelta(days=1)
    meter_record(meter="api.calls", quantity=1, user=user, at=yesterday)
    meter_record(meter="api.calls", quantity=2, user=user, at=now)
    assert sorted(UsageDaily.objects.values_list("day", "quantity")) == [
        (yesterday.astimezone(dt.UTC).date(), Decimal(1)),
        (now.astimezone(dt.UTC).date(), Decimal(2)),
    ]
    day_counters = dict(QuotaCounter.objects.filter(user=user, period="day").values_list("period_start", "used"))
    assert day_counters == {yesterday.date(): Decimal(1), now.date(): Decimal(2)}
    month = QuotaCounter.objects.filter(user=user, period="month")
    assert sum(c.used for c in month) == Decimal(3)  # one row, or two when yesterday was last month


def test_usage_report_writes_several_meters_of_one_piece_of_work(make_user):
    user = make_user(role="user")
    usage_report(
        amounts={"llm.tokens": 30, "llm.tokens_in": 10, "llm.tokens_out": 20, "llm.cost": "0.0125", "ai.calls": 1},
        user=user,
        dimension="model-x",
    )
    rows = dict(UsageDaily.objects.filter(dimension="model-x").values_list("meter", "quantity"))
    assert rows == {
        "llm.tokens": Decimal(30),
        "llm.tokens_in": Decimal(10),
        "llm.tokens_out": Decimal(20),
        "llm.cost": Decimal("0.0125"),
        "ai.calls": Decimal(1),
    }
    assert QuotaCounter.objects.filter(user=user).count() == 10  # five meters, day and month


def test_a_quantity_keeps_six_places():
    meter_record(meter="llm.cost", quantity="0.1234564", user=None)
    meter_record(meter="llm.cost", quantity=Decimal("0.0000011"), user=None)
    assert UsageDaily.objects.get().quantity == Decimal("0.123457")  # 0.123456 + 0.000001


# --- counters and levels ----------------------------------------------------------------------------------------------


def test_a_counter_is_counted_per_day_and_per_month(make_user):
    user = make_user(role="user")
    meter_record(meter="compute.cpu_seconds", quantity="1.5", user=user)
    meter_record(meter="compute.cpu_seconds", quantity="2.25", user=user)
    now = timezone.now()
    assert counters(user, "compute.cpu_seconds") == {
        ("day", period_start("day", now)): Decimal("3.75"),
        ("month", period_start("month", now)): Decimal("3.75"),
    }
    assert not QuotaCounter.objects.filter(period="total").exists()


def test_a_level_is_one_total_that_goes_down_but_never_below_zero(make_user):
    user = make_user(role="user")
    meter_record(meter="storage.bytes", quantity=1000, user=user)
    meter_record(meter="storage.bytes", quantity=500, user=user)
    assert counters(user, "storage.bytes") == {("total", LEVEL_START): Decimal(1500)}
    meter_record(meter="storage.bytes", quantity=-1200, user=user)
    assert counters(user, "storage.bytes") == {("total", LEVEL_START): Decimal(300)}
    meter_record(meter="storage.bytes", quantity=-1000, user=user)  # more than is held: the level stops at 0
    assert counters(user, "storage.bytes") == {("total", LEVEL_START): Decimal(0)}
    # the daily aggregate keeps the movements (here: +1500 - 2200 on one day)
    assert UsageDaily.objects.get(meter="storage.bytes").quantity == Decimal(-700)
    assert UsageDaily.objects.get(meter="storage.bytes").events == 4


def test_a_first_negative_level_report_starts_at_zero(make_user):
    user = make_user(role="user")
    meter_record(meter="storage.documents", quantity=-3, user=user)
    assert counters(user, "storage.documents") == {("total", LEVEL_START): Decimal(0)}


# --- bad reports ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("meter", ["ai.calls", "llm.tokens", "api.calls", "compute.cpu_seconds", "llm.cost"])
def test_a_counter_refuses_a_negative_quantity(make_user, meter):
    user = make_user(role="user")
    with pytest.raises(ValidationFailed) as info:
        meter_record(meter=meter, quantity=-1, user=user)
    assert info.value.status_code == 400 and "quantity" in info.value.details
    assert not UsageDaily.objects.exists() and not QuotaCounter.objects.exists()


def test_an_unknown_meter_is_400_unknown_meter(make_user):
    user = make_user(role="user")
    with pytest.raises(ValidationFailed) as info:
        meter_record(meter="coffee.cups", quantity=1, user=user)
    assert (info.value.status_code, info.value.code) == (400, "unknown_meter")
    assert "ai.calls" in info.value.details["meter"][0]
    assert not UsageDaily.objects.exists()


@pytest.mark.parametrize(
    "quantity", ["1000000000000001", "-1000000000000001", "1e16", "NaN", "Infinity", "-inf", "lots", None, [], "1,5"]
)
def test_absurd_quantities_are_400_and_nothing_is_written(make_user, quantity):
    user = make_user(role="user")
    with pytest.raises(ValidationFailed) as info:
        meter_record(meter="storage.bytes", quantity=quantity, user=user)
    assert info.value.status_code == 400
    assert not UsageDaily.objects.exists() and not QuotaCounter.objects.exists()


def test_the_largest_quantity_is_accepted(make_user):
    user = make_user(role="user")
    meter_record(meter="storage.bytes", quantity="1000000000000000", user=user)
    assert UsageDaily.objects.get().quantity == Decimal("1000000000000000")


def test_one_bad_meter_of_a_report_writes_none_of_it(make_user):
    user = make_user(role="user")
    with pytest.raises(ValidationFailed):
        usage_report(amounts={"ai.calls": 1, "llm.tokens": -5}, user=user)
    with pytest.raises(ValidationFailed):
        usage_report(amounts={"ai.calls": 1, "nope": 5}, user=user)
    assert not UsageDaily.objects.exists() and not QuotaCounter.objects.exists()


def test_a_zero_report_writes_nothing(make_user):
    user = make_user(role="user")
    usage_report(amounts={"ai.calls": 0}, user=user, events=0)
    assert not UsageDaily.objects.exists()
    assert usage_write([], at=None) == 0


# --- who the usage is for ---------------------------------------------------------------------------------------------


def test_a_user_who_no_longer_exists_keeps_the_row_without_a_user_and_no_counter(make_user):
    user = make_user(role="user")
    gone = user.pk
    user.delete()
    meter_record(meter="llm.tokens", quantity=42, user=gone, dimension="m")
    [row] = UsageDaily.objects.all()
    assert (row.user_id, row.quantity, row.dimension) == (None, Decimal(42), "m")
    assert not QuotaCounter.objects.exists() and not QuotaNotice.objects.exists()


def test_usage_of_a_deleted_user_stays_after_the_delete(make_user):
    user = make_user(role="user")
    meter_record(meter="ai.calls", quantity=1, user=user)
    user.delete()
    assert UsageDaily.objects.get().user_id is None
    assert not QuotaCounter.objects.exists()  # counters go with their user


def test_system_work_is_recorded_for_nobody(make_user):
    meter_record(meter="llm.tokens", quantity=7, user=None)
    row = UsageDaily.objects.get()
    assert row.user_id is None and row.quantity == 7
    assert not QuotaCounter.objects.exists()


def test_the_batch_writer_attributes_each_line_on_its_own(make_user):
    alive, gone = make_user(role="user"), make_user(role="user")
    gone_id = gone.pk
    gone.delete()
    written = usage_write(
        [
            UsageLine("api.calls", Decimal(3), alive.pk, None, "", 3),
            UsageLine("api.calls", Decimal(2), gone_id, None, "", 2),
            UsageLine("api.calls", Decimal(0), alive.pk, None, "", 0),  # nothing: skipped
        ]
    )
    assert written == 2
    assert sorted((r.user_id or 0, r.quantity) for r in UsageDaily.objects.all()) == [
        (0, Decimal(2)),
        (alive.pk, Decimal(3)),
    ]
    assert set(QuotaCounter.objects.values_list("user_id", flat=True)) == {alive.pk}


# --- notices ----------------------------------------------------------------------------------------------------------


def _limit(user, meter="ai.calls", period="month", limit=10):
    plan = PlanFactory()
    PlanLimitFactory(plan=plan, meter=meter, period=period, limit=Decimal(limit))
    PlanAssignmentFactory(plan=plan, user=user)
    return plan


def test_notices_at_80_and_100_per_cent_are_written_once_per_period(make_user):
    user = make_user(role="user")
    _limit(user, limit=10)
    meter_record(meter="ai.calls", quantity=7, user=user)
    assert not QuotaNotice.objects.exists()
    meter_record(meter="ai.calls", quantity=1, user=user)  # 8 of 10
    [eighty] = QuotaNotice.objects.all()
    assert (eighty.threshold, eighty.used, eighty.limit, eighty.read) == (80, Decimal(8), Decimal(10), False)
    assert (eighty.meter, eighty.period, eighty.period_start) == ("ai.calls", "month", period_start("month"))
    meter_record(meter="ai.calls", quantity=1, user=user)  # 9: nothing new
    assert QuotaNotice.objects.count() == 1
    meter_record(meter="ai.calls", quantity=1, user=user)  # 10 of 10
    meter_record(meter="ai.calls", quantity=5, user=user)  # over: still one per threshold
    assert sorted(QuotaNotice.objects.values_list("threshold", "used")) == [(80, Decimal(8)), (100, Decimal(10))]
    # next month counts from zero: the next notices belong to the next period
    later = next_month()
    meter_record(meter="ai.calls", quantity=8, user=user, at=later)
    assert notices_check(user_id=user.pk, meters=["ai.calls"], at=later) == []  # already written by the report
    assert QuotaNotice.objects.filter(period_start=later.date()).values_list("threshold", flat=True).get() == 80
    assert QuotaNotice.objects.count() == 3


def test_one_report_over_the_limit_writes_both_notices(make_user):
    user = make_user(role="user")
    _limit(user, meter="storage.documents", period="total", limit=4)
    meter_record(meter="storage.documents", quantity=5, user=user)
    assert sorted(QuotaNotice.objects.values_list("threshold", "period", "period_start")) == [
        (80, "total", LEVEL_START),
        (100, "total", LEVEL_START),
    ]


def test_no_notice_without_a_limit_nor_for_another_meter(make_user):
    user = make_user(role="user")
    _limit(user, meter="ai.calls", limit=1)
    meter_record(meter="llm.tokens", quantity=10**6, user=user)
    meter_record(meter="ai.calls", quantity=0, user=user)
    assert not QuotaNotice.objects.exists()
    other = make_user(role="user")  # default plan: no limits
    meter_record(meter="ai.calls", quantity=100, user=other)
    assert not QuotaNotice.objects.filter(user=other).exists()


def test_a_daily_and_a_monthly_limit_each_notice_on_their_own(make_user):
    user = make_user(role="user")
    plan = _limit(user, meter="llm.tokens", period="day", limit=100)
    PlanLimitFactory(plan=plan, meter="llm.tokens", period="month", limit=Decimal(1000))
    meter_record(meter="llm.tokens", quantity=90, user=user)
    assert list(QuotaNotice.objects.values_list("period", "threshold")) == [("day", 80)]
    meter_record(meter="llm.tokens", quantity=710, user=user)
    assert sorted(QuotaNotice.objects.values_list("period", "threshold")) == [
        ("day", 80),
        ("day", 100),
        ("month", 80),
    ]
