"""Object grants (django-guardian): the one place object permissions are written."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext
from guardian.shortcuts import assign_perm, remove_perm

from ..choices import AuditAction
from ..exceptions import ValidationFailed
from .api_keys import refuse_api_key_context
from .audit import audit_record

_LEVELS = {"view": ("view",), "change": ("view", "change"), "manage": ("view", "change", "delete")}


@transaction.atomic
def object_share(*, obj: models.Model, to: Any, level: str = "view", actor: Any = None) -> None:
    """Grant a user or group access to one owned object. The one place object permissions are written; a person
    does it, never an API key."""
    refuse_api_key_context(what=gettext("Sharing"))
    if level not in _LEVELS:
        raise ValidationFailed(
            gettext("Unknown access level."),
            details={"level": [gettext("Use one of %(levels)s.") % {"levels": sorted(_LEVELS)}]},
        )
    for verb in _LEVELS["manage"]:
        remove_perm(f"{verb}_{obj._meta.model_name}", to, obj)
    for verb in _LEVELS[level]:
        assign_perm(f"{verb}_{obj._meta.model_name}", to, obj)
    audit_record(action=AuditAction.ACTION, actor=actor, target=obj, message=f"Shared ({level}) with {to}")


@transaction.atomic
def object_unshare(*, obj: models.Model, to: Any, actor: Any = None) -> None:
    refuse_api_key_context(what=gettext("Removing access"))
    for verb in _LEVELS["manage"]:
        remove_perm(f"{verb}_{obj._meta.model_name}", to, obj)
    audit_record(action=AuditAction.ACTION, actor=actor, target=obj, message=f"Access removed for {to}")
