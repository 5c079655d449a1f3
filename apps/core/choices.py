from django.db import models


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    ACTION = "action", "Action"
    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Login failed"
    LOGOUT = "logout", "Logout"
    TOKEN_REFRESH = "token_refresh", "Token refresh"
    PERMISSION_DENIED = "permission_denied", "Permission denied"
    AUTH_FAILED = "auth_failed", "Authentication failed"


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class AuditSource(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    SYSTEM = "system", "System"
    AUTH = "auth", "Authentication"


class JobStatus(models.TextChoices):
    """The states of a long job (apps.core.jobs); the legal moves between them are apps.core.jobs.TRANSITIONS."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
