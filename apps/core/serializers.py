"""The shared serializer base of every app's API: bounded numbers and one rule for what a number looks like.

Every number the API accepts has a documented range, and only ASCII digits make a number (full-width "123" is a
400, not 123). Apps declare numeric fields with the classes below and subclass ``BaseModelSerializer`` instead of DRF's
``ModelSerializer``, whose model fields then map to them:

- money (a decimal with at most 2 places): ``MONEY_MAX`` = 999,999,999,999.99;
- other decimals (quantities, prices, rates): ``QUANTITY_MAX`` = 999,999,999,999;
- integers: PostgreSQL's ``integer`` range (``INTEGER_MIN``..``INTEGER_MAX``), or the model field's own range;
- floats: ``FLOAT_MAX`` = 1e12 either side, finite only.

A blank-allowed model EmailField or URLField becomes ``OptionalEmailField``/``OptionalURLField``, whose schema allows
the "" such a field holds when unset.

A field gives a narrower range with ``min_value``/``max_value`` (``min_value=0`` where a negative makes no sense);
a field can never be left without one (tests/core/test_security_input.py walks every input serializer).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

MONEY_MAX = Decimal("999999999999.99")
QUANTITY_MAX = Decimal("999999999999")
INTEGER_MAX = 2_147_483_647
INTEGER_MIN = -2_147_483_648
FLOAT_MAX = 1e12


class AsciiNumberMixin:
    """A number given as text must be written with ASCII characters: Python's int(), float() and Decimal() also
    read full-width and other Unicode digits, which a client never means to send as a number."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid")  # type: ignore[attr-defined]  # the DRF field's
        return super().to_internal_value(data)  # type: ignore[misc]


def _decimal_cap(max_digits: int | None, decimal_places: int | None) -> Decimal:
    default = MONEY_MAX if decimal_places is not None and decimal_places <= 2 else QUANTITY_MAX
    if max_digits is None or decimal_places is None:
        return default
    digits = Decimal(10) ** (max_digits - decimal_places) - Decimal(10) ** -decimal_places
    return min(default, digits)


class DecimalField(AsciiNumberMixin, serializers.DecimalField):
    """DRF's DecimalField, bounded by default to ±MONEY_MAX (2 places or fewer) or ±QUANTITY_MAX, and never beyond
    what ``max_digits`` can hold."""

    def __init__(self, max_digits: int | None, decimal_places: int | None, *args: Any, **kwargs: Any) -> None:
        cap = _decimal_cap(max_digits, decimal_places)
        kwargs["max_value"] = cap if kwargs.get("max_value") is None else kwargs["max_value"]
        kwargs["min_value"] = -cap if kwargs.get("min_value") is None else kwargs["min_value"]
        super().__init__(max_digits, decimal_places, *args, **kwargs)


class IntegerField(AsciiNumberMixin, serializers.IntegerField):
    """DRF's IntegerField, bounded by default to PostgreSQL's ``integer``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["max_value"] = INTEGER_MAX if kwargs.get("max_value") is None else kwargs["max_value"]
        kwargs["min_value"] = INTEGER_MIN if kwargs.get("min_value") is None else kwargs["min_value"]
        super().__init__(**kwargs)


class FloatField(AsciiNumberMixin, serializers.FloatField):
    """DRF's FloatField (finite values only), bounded by default to ±FLOAT_MAX."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["max_value"] = FLOAT_MAX if kwargs.get("max_value") is None else kwargs["max_value"]
        kwargs["min_value"] = -FLOAT_MAX if kwargs.get("min_value") is None else kwargs["min_value"]
        super().__init__(**kwargs)


# A blank-allowed email or URL is "" when unset: the schema says "an address or the empty string", so a client (or
# a schema-driven fuzzer) does not reject "" against format: email / uri.
@extend_schema_field({"anyOf": [{"type": "string", "format": "email"}, {"type": "string", "maxLength": 0}]})
class OptionalEmailField(serializers.EmailField):
    """An email address, or "" (a blank-allowed model EmailField)."""


@extend_schema_field({"anyOf": [{"type": "string", "format": "uri"}, {"type": "string", "maxLength": 0}]})
class OptionalURLField(serializers.URLField):
    """A URL, or "" (a blank-allowed model URLField)."""


_M = TypeVar("_M", bound=models.Model)


class BaseModelSerializer(serializers.ModelSerializer[_M]):
    """ModelSerializer whose numeric model fields become the bounded, ASCII-only fields above (a model field's own
    validators, e.g. MinValueValidator(0) or a positive integer's range, still narrow them)."""

    serializer_field_mapping: ClassVar[
        dict[type[models.Field[Any, Any]], type[serializers.Field[Any, Any, Any, Any]]]
    ] = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: DecimalField,
        models.FloatField: FloatField,
        models.IntegerField: IntegerField,
        models.BigIntegerField: IntegerField,
        models.SmallIntegerField: IntegerField,
        models.PositiveIntegerField: IntegerField,
        models.PositiveSmallIntegerField: IntegerField,
        models.PositiveBigIntegerField: IntegerField,
    }

    def build_standard_field(self, field_name: str, model_field: Any) -> tuple[Any, dict[str, Any]]:
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if getattr(model_field, "blank", False):
            if isinstance(model_field, models.EmailField):
                field_class = OptionalEmailField
            elif isinstance(model_field, models.URLField):
                field_class = OptionalURLField
        return field_class, kwargs
