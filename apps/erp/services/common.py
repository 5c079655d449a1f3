"""Helpers shared by the ERP services: rounding, document numbers, state guards, audit."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol

from django.db import models
from django.db.models.options import Options
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.services import audit_record

from .. import conf
from ..models import DocumentSequence

CENT = Decimal("0.01")
MILLI = Decimal("0.001")
COST = Decimal("0.0001")
ZERO = Decimal("0")
HUNDRED = Decimal("100")


def q2(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def q3(value: Decimal) -> Decimal:
    return Decimal(value).quantize(MILLI, rounding=ROUND_HALF_UP)


def q4(value: Decimal) -> Decimal:
    return Decimal(value).quantize(COST, rounding=ROUND_HALF_UP)


def as_decimal(value: Any, *, field: str, places: int, positive: bool = False, allow_zero: bool = True) -> Decimal:
    """Parse ``value`` as a Decimal with at most ``places`` decimals and a sane magnitude, or raise 400."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationFailed(
            gettext("%(field)s is not a number.") % {"field": field},
            details={field: [gettext("A valid number is required.")]},
        ) from None
    if not number.is_finite():
        raise ValidationFailed(
            gettext("%(field)s is not a number.") % {"field": field},
            details={field: [gettext("A valid number is required.")]},
        )
    exponent = number.as_tuple().exponent  # an int: the number is finite
    if isinstance(exponent, int) and exponent < -places and number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValidationFailed(
            gettext("%(field)s has more than %(places)s decimal places.") % {"field": field, "places": places},
            details={field: [gettext("At most %(places)s decimal places.") % {"places": places}]},
        )
    if abs(number) > conf.max_amount():
        raise ValidationFailed(
            gettext("%(field)s is too large.") % {"field": field},
            details={field: [gettext("At most %(value)s.") % {"value": conf.max_amount()}]},
        )
    if number < 0 or (positive and number == 0) or (not allow_zero and number == 0):
        raise ValidationFailed(
            gettext("%(field)s must be greater than zero.") % {"field": field},
            details={field: [gettext("Must be greater than zero.")]},
        )
    return number.quantize(Decimal(1).scaleb(-places))


def line_amounts(*, quantity: Decimal, unit_price: Decimal, discount_percent: Decimal, tax_rate: Decimal) -> tuple:
    """(net, tax) of one order line, each rounded half-up to cents."""
    gross = quantity * unit_price
    net = q2(gross * (HUNDRED - discount_percent) / HUNDRED)
    tax = q2(net * tax_rate / HUNDRED)
    return net, tax


def next_number(prefix: str) -> str:
    """The next document number for ``prefix`` (e.g. SO-000042), taken under a row lock."""
    seq = DocumentSequence.objects.select_for_update().filter(prefix=prefix).first()
    if seq is None:
        DocumentSequence.objects.bulk_create([DocumentSequence(prefix=prefix)], ignore_conflicts=True)
        seq = DocumentSequence.objects.select_for_update().get(prefix=prefix)
    value = seq.next_value
    DocumentSequence.objects.filter(pk=seq.pk).update(next_value=value + 1)
    return f"{prefix}-{value:06d}"


class HasState(Protocol):
    """A model instance with a ``state`` field (orders, invoices, production orders)."""

    @property
    def state(self) -> str: ...
    @property
    def _meta(self) -> Options[Any]: ...


def require_state(obj: HasState, allowed: Iterable[str], action: str) -> None:
    """Refuse a transition from the object's current state with 409 ``invalid_transition``."""
    allowed = list(allowed)
    state = obj.state
    if state not in allowed:
        raise Conflict(
            gettext("Cannot %(action)s %(verbose_name)s %(obj)s in state '%(state)s'.")
            % {"action": action, "verbose_name": obj._meta.verbose_name, "obj": obj, "state": state},
            code="invalid_transition",
            details={"state": state, "action": action, "allowed_from": allowed},
        )


def audit(*, actor: Any, target: models.Model, message: str, action: str = AuditAction.ACTION, changes=None) -> None:
    audit_record(action=action, actor=actor, target=target, message=message, changes=changes or {})
