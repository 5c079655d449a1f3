"""Factories of the resource management system's metering, plan and quota models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from apps.resources.models import Plan, PlanAssignment, PlanLimit, QuotaCounter, QuotaNotice, QuotaOverride, UsageDaily
from apps.resources.periods import period_start
from tests.core.factories import UserFactory


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    code = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    tier = "custom"


class PlanLimitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanLimit

    plan = factory.SubFactory(PlanFactory)
    meter = "ai.calls"
    period = "month"
    limit = Decimal(100)


class PlanAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanAssignment

    plan = factory.SubFactory(PlanFactory)
    user = factory.SubFactory(UserFactory)


class QuotaOverrideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QuotaOverride

    user = factory.SubFactory(UserFactory)
    meter = "ai.calls"
    period = "month"
    limit = Decimal(10)


class UsageDailyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageDaily

    day = factory.LazyFunction(lambda: timezone.now().date())
    meter = "api.calls"
    user = factory.SubFactory(UserFactory)
    quantity = Decimal(5)
    events = 5


class QuotaCounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QuotaCounter

    user = factory.SubFactory(UserFactory)
    meter = "ai.calls"
    period = "month"
    period_start = factory.LazyFunction(lambda: period_start("month"))
    used = Decimal(3)


class QuotaNoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QuotaNotice

    user = factory.SubFactory(UserFactory)
    meter = "ai.calls"
    period = "month"
    period_start = factory.LazyFunction(lambda: period_start("month"))
    threshold = 80
    used = Decimal(80)
    limit = Decimal(100)


def day(offset: int = 0) -> dt.date:
    return timezone.now().date() + dt.timedelta(days=offset)
