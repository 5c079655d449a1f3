"""Users and the four role groups."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext

from ..choices import AuditAction
from ..exceptions import ValidationFailed
from ..roles import PERMISSIONS, ROLES, split_permission
from .api_keys import refuse_api_key_context
from .audit import audit_record, model_snapshot, snapshot_diff

logger = logging.getLogger(__name__)


def _perm_label(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def _permission_objects() -> dict[str, Permission]:
    wanted = Q()
    for perm in PERMISSIONS:
        app_label, codename = split_permission(perm)
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    found = Permission.objects.filter(wanted).select_related("content_type")
    return {_perm_label(p): p for p in found}


@transaction.atomic
def roles_sync() -> dict[str, dict[str, list[str]]]:
    """Make the four role groups hold exactly the permissions of apps.core.roles.ROLES. Idempotent.

    Returns, per role, the permissions added and removed."""
    available = _permission_objects()
    missing = sorted(set(PERMISSIONS) - set(available))
    if missing:
        raise ValidationFailed(
            gettext("Role permissions are missing from the database; run migrate first."), details={"missing": missing}
        )
    report: dict[str, dict[str, list[str]]] = {}
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        current = {_perm_label(p): p for p in group.permissions.select_related("content_type")}
        to_add, to_remove = sorted(perms - set(current)), sorted(set(current) - perms)
        if to_add:
            group.permissions.add(*(available[p] for p in to_add))
        if to_remove:
            group.permissions.remove(*(current[p] for p in to_remove))
        report[role] = {"added": to_add, "removed": to_remove}
        if to_add or to_remove:
            audit_record(
                action=AuditAction.UPDATE,
                target=group,
                changes={"permissions": [to_remove, to_add]},
                message="Role synchronised with the permission matrix",
            )
    return report


def roles_sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    """post_migrate hook: after the last installed app has migrated (so every permission exists), sync the groups."""
    if getattr(sender, "label", None) != list(django_apps.get_app_configs())[-1].label:
        return
    try:
        roles_sync()
    except ValidationFailed as exc:  # a partial migrate (e.g. a single app) may not have every permission yet
        logger.info("Role sync skipped: %s", exc.details)


@transaction.atomic
def user_set_roles(*, user: User, roles: Iterable[str], actor: Any = None) -> None:
    refuse_api_key_context(what=gettext("Changing roles"))
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed(gettext("Unknown roles."), code="invalid_role", details={"roles": unknown})
    before = sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    user.groups.remove(*Group.objects.filter(name__in=set(ROLES) - set(roles)))
    user.groups.add(*Group.objects.filter(name__in=roles))
    if before != roles:
        audit_record(action=AuditAction.UPDATE, actor=actor, target=user, changes={"roles": [before, roles]})


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    roles: Iterable[str] = (),
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    actor: Any = None,
) -> User:
    refuse_api_key_context(what=gettext("Creating a user"))
    User = get_user_model()
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    audit_record(action=AuditAction.CREATE, actor=actor, target=user, changes=snapshot_diff({}, model_snapshot(user)))
    user_set_roles(user=user, roles=roles, actor=actor)
    return user


USER_EDITABLE_FIELDS = ("email", "first_name", "last_name", "is_active", "is_staff")


@transaction.atomic
def user_update(
    *,
    user: User,
    actor: Any = None,
    roles: Iterable[str] | None = None,
    password: str | None = None,
    **fields: Any,
) -> User:
    """Change profile fields, roles and/or password; one audit entry for the profile, one for the roles."""
    refuse_api_key_context(what=gettext("Changing a user"))
    unknown = sorted(set(fields) - set(USER_EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            gettext("These fields cannot be changed here."),
            details={name: [gettext("Not editable.")] for name in unknown},
        )
    before = model_snapshot(user)
    for name, value in fields.items():
        setattr(user, name, value)
    if password:
        user.set_password(password)
    user.full_clean()
    user.save()
    changes = snapshot_diff(before, model_snapshot(user))
    if changes:
        audit_record(action=AuditAction.UPDATE, actor=actor, target=user, changes=changes)
    if roles is not None:
        user_set_roles(user=user, roles=roles, actor=actor)
    return user
