"""Pools and reservations: the peak computation, booking without overbooking (also under concurrency), cancelling,
completing, availability, fair share, pre-emption through an approval, and the API per role."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction

from apps.core.exceptions import Conflict, NotFound, ValidationFailed
from apps.core.models import AuditLog
from apps.core.testing import assert_error_body, assert_role_access
from apps.resources.choices import ApprovalStatus, Priority, ReservationStatus
from apps.resources.models import ApprovalRequest, PoolReservation, ResourcePool
from apps.resources.selectors.pools import (
    load_timeline,
    peak_load,
    pool_availability,
    pool_fair_share,
    reservations_visible_to,
)
from apps.resources.services.approvals import approval_approve, approval_reject, approval_rollback
from apps.resources.services.pools import (
    reservation_cancel,
    reservation_complete,
    reservation_create,
    reservation_preempt_request,
    reservations_complete_ended,
)
from tests.core.factories import UserFactory
from tests.resources.factories_pools import PoolReservationFactory, ResourcePoolFactory, at

D = Decimal


# --- The sweep ------------------------------------------------------------------------------------------------------


def test_peak_is_the_highest_concurrent_load_not_the_sum():
    # 0-4: 3, 1-2: 4, 3-6: 2, 5-7: 5  -> loads: [0,1) 3, [1,2) 7, [2,3) 3, [3,4) 5, [4,5) 2, [5,6) 7, [6,7) 5
    intervals = [(at(0), at(4), D(3)), (at(1), at(2), D(4)), (at(3), at(6), D(2)), (at(5), at(7), D(5))]
    assert peak_load(intervals, start=at(0), end=at(8)) == D(7)
    assert sum(i[2] for i in intervals) == D(14)
    assert peak_load(intervals, start=at(2), end=at(5)) == D(5)
    assert peak_load(intervals, start=at(6), end=at(8)) == D(5)
    assert peak_load(intervals, start=at(7), end=at(8)) == D(0)
    timeline = load_timeline(intervals, start=at(0), end=at(8))
    assert [(s, e, load) for s, e, load in timeline] == [
        (at(0), at(1), D(3)),
        (at(1), at(2), D(7)),
        (at(2), at(3), D(3)),
        (at(3), at(4), D(5)),
        (at(4), at(5), D(2)),
        (at(5), at(6), D(7)),
        (at(6), at(7), D(5)),
        (at(7), at(8), D(0)),
    ]


def test_touching_windows_do_not_overlap():
    intervals = [(at(0), at(2), D(6)), (at(2), at(4), D(6))]
    assert peak_load(intervals, start=at(0), end=at(4)) == D(6)


# --- Booking --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_booking_fits_under_the_peak_and_is_refused_over_it():
    pool = ResourcePoolFactory(capacity=D(10))
    user, operator = UserFactory(role="user"), UserFactory(role="manager")
    kwargs = {"pool": pool, "user": user, "actor": operator, "priority": Priority.MEDIUM, "purpose": "x"}
    reservation_create(amount=D(6), starts_at=at(0), ends_at=at(4), **kwargs)
    reservation_create(amount=D(4), starts_at=at(2), ends_at=at(6), **kwargs)  # peak 10 in [2,4)
    # [4,6) holds 4 only, but [3,5) meets the peak of 10: refused with the numbers
    with pytest.raises(Conflict) as caught:
        reservation_create(amount=D(1), starts_at=at(3), ends_at=at(5), **kwargs)
    assert caught.value.code == "pool_overbooked"
    assert caught.value.details == {
        "capacity": "10.000",
        "peak_booked": "10.000",
        "requested": "1.000",
        "available": "0.000",
    }
    # the sum over [0,8) is 10 but never more than 10 at once after 4: 6 more fit in [4,8)
    made = reservation_create(amount=D(6), starts_at=at(4), ends_at=at(8), **kwargs)
    assert made.group == user.groups.order_by("id").first()
    assert made.created_by == operator and made.status == ReservationStatus.ACTIVE
    assert AuditLog.objects.filter(target_type="resources.poolreservation", target_id=str(made.pk)).exists()


@pytest.mark.django_db
def test_cancelled_and_other_pools_do_not_count():
    pool, other = ResourcePoolFactory(capacity=D(4)), ResourcePoolFactory(capacity=D(4))
    PoolReservationFactory(pool=pool, amount=D(4), status=ReservationStatus.CANCELLED)
    PoolReservationFactory(pool=other, amount=D(4))
    made = reservation_create(
        pool=pool, user=UserFactory(), amount=D(4), starts_at=at(0), ends_at=at(2), priority="low", actor=None
    )
    assert made.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"amount": D(0)}, "invalid"),
        ({"amount": D(-1)}, "invalid"),
        ({"amount": "abc"}, "invalid"),
        ({"amount": D("0.0001")}, "invalid"),
        ({"amount": D(11)}, "amount_over_capacity"),
        ({"ends_at": at(0)}, "invalid"),
        ({"ends_at": at(-1)}, "invalid"),
        ({"starts_at": dt.datetime(2030, 1, 1, 8)}, "invalid"),  # naive
        ({"ends_at": at(24 * 367)}, "invalid"),
        ({"priority": "urgent"}, "invalid"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(changes, code):
    pool = ResourcePoolFactory(capacity=D(10))
    kwargs = {"pool": pool, "user": UserFactory(), "amount": D(1), "starts_at": at(0), "ends_at": at(2)}
    kwargs.update(changes)
    audits = AuditLog.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        reservation_create(priority=kwargs.pop("priority", "medium"), actor=None, **kwargs)
    assert caught.value.code == code
    assert PoolReservation.objects.count() == 0 and AuditLog.objects.count() == audits


@pytest.mark.django_db
def test_unknown_and_inactive_pools():
    ghost = ResourcePool(pk=987654, name="ghost", capacity=D(1))
    with pytest.raises(NotFound):
        reservation_create(pool=ghost, user=UserFactory(), amount=D(1), starts_at=at(0), ends_at=at(1), actor=None)
    idle = ResourcePoolFactory(active=False)
    with pytest.raises(Conflict) as caught:
        reservation_create(pool=idle, user=UserFactory(), amount=D(1), starts_at=at(0), ends_at=at(1), actor=None)
    assert caught.value.code == "pool_inactive"


@pytest.mark.django_db
def test_database_constraints_hold_without_the_service():
    pool, user = ResourcePoolFactory(), UserFactory()
    for fields in ({"amount": D(0)}, {"starts_at": at(2), "ends_at": at(1)}):
        with pytest.raises(IntegrityError), transaction.atomic():
            PoolReservation.objects.create(
                **{"pool": pool, "user": user, "amount": D(1), "starts_at": at(0), "ends_at": at(1), **fields}
            )
    with pytest.raises(IntegrityError), transaction.atomic():
        ResourcePool.objects.create(name="zero", kind="host", capacity=D(0))


@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_never_overbook():
    """Ten threads, each with its own database connection, book 3 of a pool of 10 over the same window: exactly three
    succeed, the others get pool_overbooked."""
    pool = ResourcePoolFactory(capacity=D(10))
    users = [UserFactory() for _ in range(10)]
    barrier = threading.Barrier(10)
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(user):
        try:
            barrier.wait(timeout=10)
            reservation_create(
                pool=pool, user=user, amount=D(3), starts_at=at(0), ends_at=at(5), priority="medium", actor=None
            )
            result = "ok"
        except Conflict as exc:
            result = exc.code
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=book, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["ok"] * 3 + ["pool_overbooked"] * 7
    assert PoolReservation.objects.filter(pool=pool, status="active").count() == 3


@pytest.mark.django_db
def test_cancel_and_complete_are_transitions_of_an_active_reservation():
    reservation = PoolReservationFactory()
    operator = UserFactory(role="manager")
    assert reservation_cancel(reservation=reservation, actor=operator).status == ReservationStatus.CANCELLED
    with pytest.raises(Conflict) as caught:
        reservation_complete(reservation=reservation)
    assert caught.value.code == "invalid_transition"
    other = PoolReservationFactory()
    assert reservation_complete(reservation=other).status == ReservationStatus.COMPLETED


@pytest.mark.django_db
def test_beat_job_completes_ended_reservations():
    ended = PoolReservationFactory(starts_at=at(0), ends_at=at(1))
    running = PoolReservationFactory(starts_at=at(0), ends_at=at(3))
    assert reservations_complete_ended(now=at(2)) == 1
    ended.refresh_from_db()
    running.refresh_from_db()
    assert ended.status == ReservationStatus.COMPLETED and running.status == ReservationStatus.ACTIVE


# --- Availability and fair share ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_availability_timeline():
    pool = ResourcePoolFactory(capacity=D(10))
    PoolReservationFactory(pool=pool, amount=D(4), starts_at=at(1), ends_at=at(3))
    PoolReservationFactory(pool=pool, amount=D(5), starts_at=at(2), ends_at=at(4))
    PoolReservationFactory(pool=pool, amount=D(9), starts_at=at(1), ends_at=at(3), status="cancelled")
    body = pool_availability(pool=pool, start=at(0), end=at(5))
    assert body["peak_booked"] == D(9) and body["min_free"] == D(1)
    assert [(seg["start"], seg["end"], seg["booked"], seg["free"]) for seg in body["timeline"]] == [
        (at(0), at(1), D(0), D(10)),
        (at(1), at(2), D(4), D(6)),
        (at(2), at(3), D(9), D(1)),
        (at(3), at(4), D(5), D(5)),
        (at(4), at(5), D(0), D(10)),
    ]


@pytest.mark.django_db
def test_fair_share_hand_computed():
    """Capacity 12 over [0h, 10h). Group A: 6 for 10h (avg 6) + 4 for 5h (avg 2) = 8; group B: 2 for the window from
    -2h to 3h (3h inside: avg 0.6); no group: 3 for 10h (avg 3). Three active groups: fair share 4 each."""
    pool = ResourcePoolFactory(capacity=D(12))
    a, b = Group.objects.create(name="team-a"), Group.objects.create(name="team-b")
    PoolReservationFactory(pool=pool, group=a, amount=D(6), starts_at=at(0), ends_at=at(10))
    PoolReservationFactory(pool=pool, group=a, amount=D(4), starts_at=at(5), ends_at=at(12))
    PoolReservationFactory(pool=pool, group=b, amount=D(2), starts_at=at(-2), ends_at=at(3))
    PoolReservationFactory(pool=pool, group=None, amount=D(3), starts_at=at(0), ends_at=at(10))
    PoolReservationFactory(pool=pool, group=b, amount=D(9), starts_at=at(0), ends_at=at(10), status="preempted")
    body = pool_fair_share(pool=pool, start=at(0), end=at(10))
    assert body["active_groups"] == 3 and body["fair_share"] == D(4)
    rows = {row["group"]: row for row in body["groups"]}
    assert rows[a.pk]["booked"] == D(8) and rows[a.pk]["ratio"] == D(2) and rows[a.pk]["over_fair_share"]
    assert rows[b.pk]["booked"] == D("0.6") and rows[b.pk]["ratio"] == D("0.15") and not rows[b.pk]["over_fair_share"]
    assert rows[None]["booked"] == D(3) and rows[None]["ratio"] == D("0.75")
    assert [row["group"] for row in body["groups"]] == [a.pk, None, b.pk]


@pytest.mark.django_db
def test_users_see_their_own_reservations_managers_all():
    mine, theirs = UserFactory(role="user"), UserFactory(role="user")
    own = PoolReservationFactory(user=mine)
    PoolReservationFactory(user=theirs)
    assert list(reservations_visible_to(mine)) == [own]
    assert reservations_visible_to(UserFactory(role="manager")).count() == 2


# --- Pre-emption ----------------------------------------------------------------------------------------------------


@pytest.fixture
def crowded(db):
    """A pool of 10 over [0h, 4h): a low (4, older), a low (3, newer), a medium (3) and a high (2, outside)."""
    pool = ResourcePoolFactory(capacity=D(10))
    low_old = PoolReservationFactory(pool=pool, amount=D(4), priority="low", starts_at=at(0), ends_at=at(4))
    low_new = PoolReservationFactory(pool=pool, amount=D(3), priority="low", starts_at=at(0), ends_at=at(4))
    medium = PoolReservationFactory(pool=pool, amount=D(3), priority="medium", starts_at=at(0), ends_at=at(4))
    high = PoolReservationFactory(pool=pool, amount=D(8), priority="high", starts_at=at(4), ends_at=at(6))
    return {"pool": pool, "low_old": low_old, "low_new": low_new, "medium": medium, "high": high}


def _preempt(crowded, amount, priority="high", actor=None):
    return reservation_preempt_request(
        pool=crowded["pool"],
        user=UserFactory(role="user"),
        amount=D(amount),
        starts_at=at(1),
        ends_at=at(3),
        priority=priority,
        purpose="urgent training",
        actor=actor or UserFactory(role="manager"),
    )


def test_preemption_needs_an_approval_and_names_the_fewest_victims(crowded):
    approval = _preempt(crowded, 3)  # the newest low one (3) is enough
    assert approval.status == ApprovalStatus.REQUESTED and approval.action == "reservation.preempt"
    assert approval.payload["victims"] == [crowded["low_new"].pk]
    assert "pre-empting" in approval.summary
    assert PoolReservation.objects.filter(status="active").count() == 4  # nothing happened yet
    approval = _preempt(crowded, 5)  # newest low (3) is not enough: the older low (4) too, never the medium
    assert approval.payload["victims"] == [crowded["low_new"].pk, crowded["low_old"].pk]


def test_preemption_refusals(crowded):
    with pytest.raises(Conflict) as caught:
        _preempt(crowded, 8, priority="medium")  # a medium may release both lows (7): not enough
    assert caught.value.code == "pool_overbooked"
    with pytest.raises(Conflict):
        _preempt(crowded, 3, priority="low")  # strictly lower only: a low displaces nobody
    PoolReservation.objects.filter(pk=crowded["medium"].pk).update(status="cancelled")
    with pytest.raises(ValidationFailed) as caught:
        _preempt(crowded, 3)
    assert caught.value.code == "no_preemption_needed"
    assert ApprovalRequest.objects.count() == 0


def test_preemption_end_to_end_with_rollback(crowded):
    requester, approver = UserFactory(role="manager"), UserFactory(role="admin")
    approval = _preempt(crowded, 5, actor=requester)
    approval = approval_approve(approval=approval, actor=approver, comment="go")
    assert approval.status == ApprovalStatus.COMPLETED, approval.error
    new = PoolReservation.objects.get(pk=approval.result["reservation_id"])
    assert new.status == "active" and new.amount == D(5) and new.created_by == requester
    assert sorted(approval.result["preempted"]) == sorted([crowded["low_new"].pk, crowded["low_old"].pk])
    for key in ("low_new", "low_old"):
        crowded[key].refresh_from_db()
        assert crowded[key].status == ReservationStatus.PREEMPTED and crowded[key].preempted_by == new
    crowded["medium"].refresh_from_db()
    assert crowded["medium"].status == "active"

    # rolled back: the new reservation is cancelled; both victims fit again and are restored
    approval = approval_rollback(approval=approval, actor=approver)
    assert approval.status == ApprovalStatus.ROLLED_BACK and approval.rolled_back_at
    new.refresh_from_db()
    assert new.status == "cancelled"
    assert sorted(approval.result["rollback"]["restored"]) == sorted([crowded["low_new"].pk, crowded["low_old"].pk])
    assert PoolReservation.objects.filter(status="active", preempted_by__isnull=True).count() == 4
    with pytest.raises(Conflict) as caught:
        approval_rollback(approval=approval, actor=approver)
    assert caught.value.code == "invalid_transition"


def test_rollback_restores_only_victims_that_still_fit(crowded):
    approver = UserFactory(role="admin")
    approval = approval_approve(approval=_preempt(crowded, 3), actor=approver)
    new = PoolReservation.objects.get(pk=approval.result["reservation_id"])
    reservation_cancel(reservation=new, actor=approver)  # the new one was cancelled already
    # the freed capacity is booked by someone else meanwhile
    reservation_create(
        pool=crowded["pool"], user=UserFactory(), amount=D(3), starts_at=at(0), ends_at=at(4), actor=None
    )
    approval = approval_rollback(approval=approval, actor=approver)
    assert approval.result["rollback"] == {"cancelled": None, "restored": [], "not_restored": [crowded["low_new"].pk]}
    crowded["low_new"].refresh_from_db()
    assert crowded["low_new"].status == ReservationStatus.PREEMPTED


def test_preemption_that_no_longer_fits_fails_and_changes_nothing(crowded):
    approval = _preempt(crowded, 3)
    # before approval, someone books the space that was free outside the victims
    PoolReservationFactory(pool=crowded["pool"], amount=D(3), priority="critical", starts_at=at(0), ends_at=at(4))
    approval = approval_approve(approval=approval, actor=UserFactory(role="admin"))
    assert approval.status == ApprovalStatus.FAILED and "free" in approval.error
    assert approval.result["code"] == "pool_overbooked"
    crowded["low_new"].refresh_from_db()
    assert crowded["low_new"].status == "active" and crowded["low_new"].preempted_by is None
    assert PoolReservation.objects.count() == 5


def test_rejected_preemption_changes_nothing(crowded):
    approval = approval_reject(approval=_preempt(crowded, 3), actor=UserFactory(role="admin"), comment="no")
    assert approval.status == ApprovalStatus.REJECTED and approval.decision_comment == "no"
    assert PoolReservation.objects.filter(status="active").count() == 4


# --- API ------------------------------------------------------------------------------------------------------------

POOLS, RESERVATIONS = "/api/v1/resources/pools/", "/api/v1/resources/reservations/"
ALL, MANAGERS = {"admin", "manager", "user", "guest"}, {"admin", "manager"}


def _q(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@pytest.mark.django_db
def test_api_pools_per_role(role_client, django_assert_max_num_queries):
    pool = ResourcePoolFactory(capacity=D(8))
    for _ in range(5):
        ResourcePoolFactory()
    assert_role_access(role_client, "get", POOLS, ALL)
    assert_role_access(role_client, "get", f"{POOLS}{pool.pk}/", ALL)
    window = f"?start={_q(at(0))}&end={_q(at(4))}"
    assert_role_access(role_client, "get", f"{POOLS}{pool.pk}/availability/{window}", ALL)
    assert_role_access(role_client, "get", f"{POOLS}{pool.pk}/fair-share/{window}", ALL)
    new = lambda role: {"name": f"gpu-{role}", "kind": "gpu", "capacity": "4", "unit": "GPUs", "gpu_memory_gb": "80"}  # noqa: E731
    assert_role_access(role_client, "post", POOLS, MANAGERS, new)
    assert_role_access(role_client, "patch", f"{POOLS}{pool.pk}/", MANAGERS, {"description": "racks 1-3"})
    client = role_client("user")
    with django_assert_max_num_queries(8):
        assert client.get(POOLS).json()["count"] == 8


@pytest.mark.django_db
def test_api_pool_validation(role_client):
    client = role_client("manager")
    assert_error_body(client.post(POOLS, {"name": "q", "kind": "queue", "capacity": "4", "queue_name": "x"}), 400)
    assert_error_body(client.post(POOLS, {"name": "z", "kind": "host", "capacity": "0"}, format="json"), 400)
    assert_error_body(client.post(POOLS, {"name": "h", "kind": "host", "capacity": "1", "gpu_memory_gb": "8"}), 400)
    made = client.post(POOLS, {"name": "q", "kind": "queue", "capacity": "4", "queue_name": "backtest"}, format="json")
    assert made.status_code == 201, made.content
    pool = ResourcePool.objects.get(pk=made.json()["id"])
    PoolReservationFactory(pool=pool, amount=D(3), starts_at=at(0), ends_at=at(2))
    error = assert_error_body(client.patch(f"{POOLS}{pool.pk}/", {"capacity": "2"}, format="json"), 409)
    assert error["code"] == "capacity_below_booked"
    assert_error_body(client.delete(f"{POOLS}{pool.pk}/"), 409, "in_use")
    window = f"?start={_q(at(0))}&end={_q(at(0) + dt.timedelta(days=400))}"
    assert_error_body(client.get(f"{POOLS}{pool.pk}/availability/{window}"), 400)
    assert_error_body(client.get(f"{POOLS}{pool.pk}/fair-share/?start=yesterday"), 400)
    assert_error_body(client.get(f"{POOLS}987654/availability/?start={_q(at(0))}&end={_q(at(1))}"), 404)


@pytest.mark.django_db
def test_api_availability_and_fair_share_bodies(role_client):
    pool = ResourcePoolFactory(capacity=D(10))
    PoolReservationFactory(pool=pool, amount=D(4), starts_at=at(1), ends_at=at(3))
    client = role_client("guest")
    body = client.get(f"{POOLS}{pool.pk}/availability/?start={_q(at(0))}&end={_q(at(4))}").json()
    assert body["peak_booked"] == "4.000" and body["min_free"] == "6.000"
    assert [seg["booked"] for seg in body["timeline"]] == ["0.000", "4.000", "0.000"]
    body = client.get(f"{POOLS}{pool.pk}/fair-share/?start={_q(at(0))}&end={_q(at(4))}").json()
    assert body["active_groups"] == 1 and body["groups"][0]["booked"] == "2.000"


def _booking(pool, user, amount="2", start=0, end=2, **extra):
    return {
        "pool_id": pool.pk,
        "user_id": user.pk,
        "amount": amount,
        "starts_at": _q(at(start)),
        "ends_at": _q(at(end)),
        "priority": "medium",
        "purpose": "training",
        **extra,
    }


@pytest.mark.django_db
def test_api_reservations_per_role(role_client, role_users, django_assert_max_num_queries):
    pool = ResourcePoolFactory(capacity=D(100))
    own = PoolReservationFactory(pool=pool, user=role_users["user"])
    for _ in range(5):
        PoolReservationFactory(pool=pool)
    assert_role_access(role_client, "get", RESERVATIONS, ALL)
    assert_role_access(role_client, "post", RESERVATIONS, MANAGERS, lambda role: _booking(pool, role_users["user"]))
    listed = role_client("user").get(RESERVATIONS).json()
    mine = PoolReservation.objects.filter(user=role_users["user"])
    assert {row["id"] for row in listed["results"]} == set(mine.values_list("pk", flat=True))
    assert listed["count"] == 3  # the factory's and the two the managers booked on the user's behalf
    assert all(row["user"] == role_users["user"].pk for row in listed["results"])
    assert role_client("guest").get(RESERVATIONS).json()["count"] == 0
    assert_error_body(role_client("guest").get(f"{RESERVATIONS}{own.pk}/"), 404)
    assert role_client("user").get(f"{RESERVATIONS}{own.pk}/").status_code == 200
    assert_error_body(role_client("user").post(f"{RESERVATIONS}{own.pk}/cancel/"), 403, "permission_denied")
    with django_assert_max_num_queries(8):
        assert role_client("manager").get(RESERVATIONS).json()["count"] == 8
    response = role_client("manager").post(f"{RESERVATIONS}{own.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert_error_body(role_client("manager").post(f"{RESERVATIONS}{own.pk}/cancel/"), 409, "invalid_transition")


@pytest.mark.django_db
def test_api_overbooking_is_a_409_and_bad_input_a_400(role_client, role_users):
    pool = ResourcePoolFactory(capacity=D(4))
    client, user = role_client("manager"), role_users["user"]
    assert client.post(RESERVATIONS, _booking(pool, user, "3"), format="json").status_code == 201
    error = assert_error_body(client.post(RESERVATIONS, _booking(pool, user, "2"), format="json"), 409)
    assert error["code"] == "pool_overbooked" and error["details"]["available"] == "1.000"
    assert client.post(RESERVATIONS, _booking(pool, user, "2", start=2, end=4), format="json").status_code == 201
    for bad in (
        _booking(pool, user, "0"),
        _booking(pool, user, "-1"),
        _booking(pool, user, "5"),
        _booking(pool, user, start=2, end=1),
        _booking(pool, user, priority="urgent"),
        {**_booking(pool, user), "pool_id": 987654},
        {**_booking(pool, user), "user_id": 987654},
    ):
        assert_error_body(client.post(RESERVATIONS, bad, format="json"), 400)
    assert PoolReservation.objects.count() == 2


@pytest.mark.django_db
def test_api_preemption_through_an_approval(role_client, role_users):
    pool = ResourcePoolFactory(capacity=D(4))
    victim = PoolReservationFactory(pool=pool, amount=D(4), priority="low", starts_at=at(0), ends_at=at(4))
    body = _booking(pool, role_users["user"], "2", priority="high")
    assert_error_body(role_client("user").post(f"{RESERVATIONS}preempt/", body, format="json"), 403)
    response = role_client("manager").post(f"{RESERVATIONS}preempt/", body, format="json")
    assert response.status_code == 201, response.content
    approval = response.json()
    assert approval["action"] == "reservation.preempt" and approval["payload"]["victims"] == [victim.pk]
    response = role_client("admin").post(f"/api/v1/resources/approvals/{approval['id']}/approve/", {}, format="json")
    assert response.json()["status"] == "completed", response.content
    victim.refresh_from_db()
    assert victim.status == "preempted" and victim.preempted_by_id == response.json()["result"]["reservation_id"]
