from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    CREATE = "create", _("Create")
    UPDATE = "update", _("Update")
    DELETE = "delete", _("Delete")
    ACTION = "action", _("Action")
    LOGIN = "login", _("Login")
    LOGIN_FAILED = "login_failed", _("Login failed")
    LOGOUT = "logout", _("Logout")
    TOKEN_REFRESH = "token_refresh", _("Token refresh")
    PERMISSION_DENIED = "permission_denied", _("Permission denied")
    AUTH_FAILED = "auth_failed", _("Authentication failed")


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    FAILURE = "failure", _("Failure")
    DENIED = "denied", _("Denied")


class AuditSource(models.TextChoices):
    API = "api", _("API")
    ADMIN = "admin", _("Admin")
    SYSTEM = "system", _("System")
    AUTH = "auth", _("Authentication")


class Language(models.TextChoices):
    """The languages of the suite (settings.LANGUAGES); English is the default."""

    ENGLISH = "en", _("English")
    SIMPLIFIED_CHINESE = "zh-hans", _("Simplified Chinese")


class JobStatus(models.TextChoices):
    """The states of a long job (apps.core.jobs); the legal moves between them are apps.core.jobs.TRANSITIONS."""

    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
