"""ERP settings with their defaults (override in the Django settings / environment)."""

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def account_codes() -> dict[str, str]:
    """The accounts automatic postings use, by role."""
    defaults = {
        "cash": "1010",
        "receivable": "1100",
        "input_vat": "1150",
        "inventory": "1200",
        "wip": "1210",
        "payable": "2000",
        "grni": "2050",
        "output_vat": "2210",
        "opening_equity": "3900",
        "revenue": "4000",
        "cogs": "5000",
        "stock_adjustment": "5100",
        "purchases_expense": "6100",
    }
    return {**defaults, **_get("ERP_ACCOUNT_CODES", {})}


def reorder_auto_draft() -> bool:
    """Whether the nightly reorder check drafts purchase orders (otherwise it only reports)."""
    return bool(_get("ERP_REORDER_AUTO_DRAFT", True))


def max_amount():
    from decimal import Decimal

    return Decimal(str(_get("ERP_MAX_AMOUNT", "999999999.99")))
