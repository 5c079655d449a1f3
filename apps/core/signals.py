"""Login events come from Django's auth signals (admin, browsable API, JWT all authenticate through them)."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .choices import AuditAction, AuditOutcome
from .metrics import LOGINS
from .services import audit_record


@receiver(user_logged_in, dispatch_uid="core.audit_login")
def _audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    LOGINS.labels(outcome="success").inc()
    audit_record(action=AuditAction.LOGIN, actor=user, target=user, message="Login")


@receiver(user_login_failed, dispatch_uid="core.audit_login_failed")
def _audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))
    locked = bool(getattr(request, "axes_locked_out", False))
    LOGINS.labels(outcome="locked" if locked else "failure").inc()
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        outcome=AuditOutcome.DENIED if locked else AuditOutcome.FAILURE,
        username=username,
        message="Locked out after repeated failures" if locked else "Invalid credentials",
    )


@receiver(user_logged_out, dispatch_uid="core.audit_logout")
def _audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action=AuditAction.LOGOUT, actor=user, target=user, message="Logout")
