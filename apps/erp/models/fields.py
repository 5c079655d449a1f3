"""Field helpers: money with 2 decimals, quantities with 3, unit costs with 4."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

ZERO = Decimal("0")


def money_field(**kwargs) -> models.DecimalField:
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(max_digits=14, decimal_places=2, **kwargs)


def qty_field(**kwargs) -> models.DecimalField:
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(max_digits=14, decimal_places=3, **kwargs)


def cost_field(**kwargs) -> models.DecimalField:
    kwargs.setdefault("default", ZERO)
    kwargs.setdefault("validators", [MinValueValidator(ZERO)])
    return models.DecimalField(max_digits=16, decimal_places=4, **kwargs)


def percent_field(**kwargs) -> models.DecimalField:
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(max_digits=5, decimal_places=2, **kwargs)
