"""Choices of the resource management system: meters and periods, plans, pools and reservations, approvals and the
monitoring of hosts and services."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Meter(models.TextChoices):
    """What the suite meters. Counters add up per period; levels (storage) are a current amount."""

    LLM_TOKENS = "llm.tokens", _("LLM tokens (in and out)")
    LLM_TOKENS_IN = "llm.tokens_in", _("LLM tokens in (prompt)")
    LLM_TOKENS_OUT = "llm.tokens_out", _("LLM tokens out (completion)")
    LLM_COST = "llm.cost", _("LLM cost")
    AI_CALLS = "ai.calls", _("AI calls")
    API_CALLS = "api.calls", _("API calls")
    STORAGE_BYTES = "storage.bytes", _("Knowledge storage (bytes)")
    STORAGE_DOCUMENTS = "storage.documents", _("Knowledge documents")
    STORAGE_CHUNKS = "storage.chunks", _("Knowledge chunks")
    AGENT_RUNS = "agent.runs", _("Agent runs")
    AGENT_STEPS = "agent.steps", _("Agent steps")
    COMPUTE_SECONDS = "compute.cpu_seconds", _("Backtest and sweep CPU-seconds")
    ANALYSIS_RUNS = "analysis.runs", _("Forecast and analysis runs")
    GPU_HOURS = "gpu.hours", _("GPU hours")


class Period(models.TextChoices):
    DAY = "day", _("Daily")
    MONTH = "month", _("Monthly")
    TOTAL = "total", _("At any time (a level)")


class PlanTier(models.TextChoices):
    FREE = "free", _("Free")
    BASIC = "basic", _("Basic")
    PRO = "pro", _("Pro")
    ENTERPRISE = "enterprise", _("Enterprise")
    CUSTOM = "custom", _("Custom")


class HoldStatus(models.TextChoices):
    """A quota reservation: held while the work runs, then settled with the actual amount or released."""

    HELD = "held", _("Held")
    SETTLED = "settled", _("Settled")
    RELEASED = "released", _("Released")


class Priority(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")
    BACKGROUND = "background", _("Background")


# higher number = more important; pre-emption only ever displaces a strictly lower rank
PRIORITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "background": 0}


class PoolKind(models.TextChoices):
    HOST = "host", _("Hosts (CPU cores)")
    GPU = "gpu", _("GPUs")
    QUEUE = "queue", _("Worker queue slots")


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PREEMPTED = "preempted", _("Pre-empted")
    CANCELLED = "cancelled", _("Cancelled")
    COMPLETED = "completed", _("Completed")


class ApprovalStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXECUTING = "executing", _("Executing")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    ROLLED_BACK = "rolled_back", _("Rolled back")


class IssueSeverity(models.TextChoices):
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class IssueStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


# --- host and service monitoring --------------------------------------------------------------------------------------
class SampleResolution(models.TextChoices):
    RAW = "raw", _("Raw (one sample)")
    HOUR = "hour", _("Hourly average")


class MonitorMetric(models.TextChoices):
    """What a monitor issue is about; each has a warning and a critical threshold (settings)."""

    CPU = "cpu", _("CPU usage")
    MEMORY = "memory", _("Memory usage")
    DISK = "disk", _("Disk usage")
    PG_CONNECTIONS = "pg_connections", _("PostgreSQL connections")
    QUEUE_BACKLOG = "queue_backlog", _("Task queue backlog")
