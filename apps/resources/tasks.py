"""Celery tasks of the resource management system (queue ``default``). Thin: call the service."""

from __future__ import annotations

from celery import shared_task  # noqa: F401
from django.db import OperationalError  # noqa: F401

# --- metering and quotas ----------------------------------------------------------------------------------------------
