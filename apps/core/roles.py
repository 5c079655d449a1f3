"""The role/permission matrix of the suite, as data.

Each permission is owned by its app (a custom permission on that app's permission-holder model), so
``user.has_perm("erp.approve")`` works natively. ``sync_roles`` makes the four Django groups match ROLES exactly.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

PERMISSIONS: dict[str, Any] = {  # codename -> description (a lazy translation)
    "erp.read": _("Read ERP master data, orders, stock and reports"),
    "erp.write": _("Create and change customers, products, orders and stock moves"),
    "erp.approve": _("Confirm and cancel orders, post invoices and payments, see financial dashboards"),
    "rag.read": _("Search and ask the knowledge bases one may see"),
    "rag.write": _("Create knowledge bases, upload and delete documents, re-index"),
    "chat.use": _("Chat, own conversations, the OpenAI-compatible API"),
    "stock.read": _("Instruments, prices, backtest results, own portfolios"),
    "stock.trade": _("Run backtests, place and cancel paper orders, manage strategies"),
    "trend.read": _("View and run trend analyses and forecasts"),
    "content.write": _("Create and edit content drafts, generate with AI"),
    "content.publish": _("Approve, schedule and publish content"),
    "agents.run": _("Create and run agent tasks"),
    "resources.manage": _("Manage resource pools, quotas and allocations"),
    "learning.manage": _("Evaluation sets, experiments, applying learned adjustments"),
    "core.audit": _("Read the audit log, manage users, roles and API keys"),
}

ADMIN, MANAGER, USER, GUEST = "admin", "manager", "user", "guest"

ROLES: dict[str, frozenset[str]] = {
    ADMIN: frozenset(PERMISSIONS),
    MANAGER: frozenset(PERMISSIONS) - {"core.audit"},
    USER: frozenset(
        {
            "erp.read",
            "erp.write",
            "rag.read",
            "rag.write",
            "chat.use",
            "stock.read",
            "stock.trade",
            "trend.read",
            "content.write",
            "agents.run",
        }
    ),
    GUEST: frozenset({"erp.read", "rag.read", "stock.read", "trend.read"}),
}

ROLE_DESCRIPTIONS: dict[str, Any] = {
    ADMIN: _("Everything, including the audit log, users, roles and API keys"),
    MANAGER: _("Runs the business: approvals, publishing, quotas, learning; no security administration"),
    USER: _("Day-to-day work in every system; no approvals"),
    GUEST: _("Read-only access to ERP, knowledge, market data and trends"),
}


def app_permissions(app_label: str) -> list[tuple[str, Any]]:
    """The (codename, name) pairs an app declares in its permission-holder model's Meta."""
    return [(perm.split(".", 1)[1], name) for perm, name in PERMISSIONS.items() if perm.split(".", 1)[0] == app_label]


def split_permission(perm: str) -> tuple[str, str]:
    app_label, codename = perm.split(".", 1)
    return app_label, codename
