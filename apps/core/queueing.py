"""Enqueueing a Celery task by its registered name. An app's tasks import its services (a task loads by id and calls
a service), so a service that has to queue follow-up work names the task instead of importing the tasks module:
the import graph keeps no services <-> tasks cycle, and the task still runs eagerly where Celery is configured so."""

from __future__ import annotations

from typing import Any

from celery import current_app
from celery.app.task import Task
from django.db import transaction


def registered_task(name: str) -> Task[Any, Any]:
    """The task registered as ``name`` (e.g. ``"rag.ingest_document"``). The tasks modules of the installed apps are
    imported on first use, as a worker does at start-up; an unknown name is a KeyError."""
    app = current_app
    if name not in app.tasks:
        app.loader.import_default_modules()
    task: Task[Any, Any] = app.tasks[name]
    return task


def enqueue_on_commit(task: Task[Any, Any] | str, *args: Any, **kwargs: Any) -> None:
    """Queue ``task`` (a task, or the name it is registered under) with JSON-safe arguments once the current
    transaction commits (at once outside one): a rolled back transaction queues nothing, and the worker never sees a
    row that is not there yet. A name is resolved now, so a misspelt one fails in the caller, not after the commit."""
    resolved = registered_task(task) if isinstance(task, str) else task
    transaction.on_commit(lambda: resolved.delay(*args, **kwargs))
