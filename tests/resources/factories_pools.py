"""Factories of pools, reservations and approval requests (rows written directly: the services are tested apart)."""

import datetime as dt
from decimal import Decimal

import factory

from apps.resources.choices import ApprovalStatus, PoolKind, Priority, ReservationStatus
from apps.resources.models import ApprovalRequest, PoolReservation, ResourcePool
from tests.core.factories import UserFactory

T0 = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    """``hours`` after 2030-01-01 08:00 UTC."""
    return T0 + dt.timedelta(hours=hours)


class ResourcePoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResourcePool

    name = factory.Sequence(lambda n: f"pool-{n}")
    kind = PoolKind.HOST
    capacity = Decimal("10")
    unit = "cores"


class PoolReservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PoolReservation

    pool = factory.SubFactory(ResourcePoolFactory)
    user = factory.SubFactory(UserFactory)
    amount = Decimal("1")
    starts_at = factory.LazyFunction(lambda: at(0))
    ends_at = factory.LazyFunction(lambda: at(2))
    priority = Priority.MEDIUM
    purpose = factory.Sequence(lambda n: f"purpose {n}")
    status = ReservationStatus.ACTIVE


class ApprovalRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApprovalRequest

    action = "queue.purge"
    payload = factory.LazyFunction(lambda: {"queue": "default"})
    summary = factory.Sequence(lambda n: f"Purge a worker queue: queue default ({n})")
    requester = factory.SubFactory(UserFactory)
    status = ApprovalStatus.REQUESTED
