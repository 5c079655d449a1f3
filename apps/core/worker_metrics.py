"""Prometheus metrics of the Celery workers, served by the worker itself.

The counters and histograms of ``apps/<system>/metrics.py`` move in the process that does the work: document
ingestion, backtests and every other task run in a worker's pool processes, so their counts exist only there. The
Celery exporter (monitoring/) sees tasks and queues through the broker's events, never these application metrics;
this module gives each worker an HTTP endpoint for them.

Off unless ``CELERY_METRICS_PORT`` is set (Django setting or environment variable). When it is, the main process of
``celery worker`` serves ``/metrics`` on that port (bind address ``CELERY_METRICS_ADDR``, default ``0.0.0.0``):

- with ``PROMETHEUS_MULTIPROC_DIR`` set (required with the prefork pool), the merged metrics of every pool process,
  including processes already replaced (``--max-tasks-per-child``), so counters never go back while the worker runs.
  The directory belongs to one worker: it is emptied when the worker starts (a lock file refuses a second worker)
  and must not be shared with gunicorn, whose scrape would then report the worker's counts a second time;
- without it (``--pool solo`` or ``threads``), the process's own registry.

The business gauges (``@business_gauge``) are left out: the web service exports them, and a second copy per worker
would only multiply the series. Access follows the web's ``/metrics`` rule: a client address in
``METRICS_ALLOWED_IPS`` or ``Authorization: Bearer <METRICS_TOKEN>``; anything else gets 403.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import IO, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from celery import signals
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, make_wsgi_app, multiprocess

logger = logging.getLogger(__name__)

LOCK_NAME = ".celery-worker.lock"
# Every interface: the scraper reaches the worker over the container network (bandit B104).
DEFAULT_ADDR = "0.0.0.0"  # nosec B104

_state: dict[str, Any] = {"server": None, "lock": None, "prepared": False, "pool_processes": None}


def _setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, default)
    return str(value).strip()


def metrics_port() -> int | None:
    """The port to serve on, or None when worker metrics are off. A value that is not a port raises ValueError."""
    raw = _setting("CELERY_METRICS_PORT")
    if not raw:
        return None
    port = int(raw)
    if not 0 < port < 65536:
        raise ValueError(f"CELERY_METRICS_PORT must be between 1 and 65535, not {raw!r}")
    return port


def metrics_addr() -> str:
    return _setting("CELERY_METRICS_ADDR", DEFAULT_ADDR) or DEFAULT_ADDR


def multiproc_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    return Path(value) if value else None


def worker_registry() -> CollectorRegistry:
    """What the worker exports: the merged pool processes (multi-process mode) or this process's registry, without
    the business gauges in either case."""
    directory = multiproc_dir()
    if directory is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        return registry
    from .metrics import collector as business_gauges

    try:
        REGISTRY.unregister(business_gauges)
    except KeyError:  # already left out
        pass
    return REGISTRY


def prepare_multiproc_dir(directory: Path) -> int:
    """Take the directory for this worker and delete the metric files left by earlier runs; returns how many.

    Raises RuntimeError when another running worker holds the directory: emptying it would lose that worker's counts
    and both would then export the same files."""
    directory.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(directory / LOCK_NAME, "a")  # held open for the life of the worker
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(
            f"PROMETHEUS_MULTIPROC_DIR {directory} is in use by another worker; give each worker its own directory"
        ) from None
    _state["lock"] = handle
    stale = list(directory.glob("*.db"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def metrics_app(registry: CollectorRegistry) -> Callable[..., Iterable[bytes]]:
    """The WSGI application: Prometheus exposition for allowed clients, a JSON 403 for the others."""
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            return _error(start_response, "404 Not Found", "not_found", "Only /metrics is served here.")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _error(start_response, "405 Method Not Allowed", "method_not_allowed", "Use GET.")
        from .metrics import metrics_client_allowed

        if not metrics_client_allowed(
            authorization=environ.get("HTTP_AUTHORIZATION", ""), ip=environ.get("REMOTE_ADDR")
        ):
            return _error(
                start_response, "403 Forbidden", "permission_denied", "Metrics are not available to this client."
            )
        return exposition(environ, start_response)  # type: ignore[no-any-return]

    return app


def _error(start_response: Callable[..., Any], status: str, code: str, message: str) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


def start(*, pool: str = "") -> bool:
    """Serve the worker's metrics if CELERY_METRICS_PORT is set; idempotent. Returns whether a server runs.

    A bad configuration is logged and leaves the worker running without metrics (Prometheus then reports the target
    down): tasks matter more than their counts."""
    if _state["server"] is not None:
        return True
    try:
        port = metrics_port()
        if port is None:
            return False
        directory = multiproc_dir()
        if directory is None:
            if pool in ("", "processes") or "prefork" in pool:
                logger.warning(
                    "Worker metrics without PROMETHEUS_MULTIPROC_DIR: the prefork pool processes' metrics are not "
                    "visible; set it to a directory of this worker's own"
                )
        elif not _state["prepared"]:
            removed = prepare_multiproc_dir(directory)
            _state["prepared"] = True
            logger.info("Worker metrics: %d stale file(s) removed from %s", removed, directory)
        addr = metrics_addr()
        server_class = _Server6 if ":" in addr else _Server
        server = make_server(addr, port, metrics_app(worker_registry()), server_class, _QuietHandler)
        if _state["pool_processes"] is None:
            _state["pool_processes"] = Counter(
                "aistack_worker_pool_processes_started",
                "Pool processes started by this worker: the first ones and each replacement (max tasks per child, "
                "a crash)",
            )
    except Exception:
        logger.exception("Worker metrics endpoint not started")
        return False
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    _state["server"] = server
    logger.info("Worker metrics on http://%s:%d/metrics", metrics_addr(), port)
    return True


def stop() -> None:
    """Stop serving and release the directory (the worker's main process calls this on shutdown)."""
    server, handle = _state["server"], _state["lock"]
    _state.update(server=None, lock=None, prepared=False)
    if server is not None:
        server.shutdown()
        server.server_close()
    if handle is not None:
        handle.close()


def _pool_name(worker: Any, options: dict[str, Any] | None = None) -> str:
    """The pool implementation's name ("prefork", "solo", "threads", ...) as far as it is known yet."""
    pool = (options or {}).get("pool") or getattr(worker, "pool_cls", None)
    if pool is None and getattr(worker, "app", None) is not None:
        pool = worker.app.conf.worker_pool
    if pool is not None and not isinstance(pool, str):
        pool = getattr(pool, "__module__", "").rsplit(".", 1)[-1]
    return str(pool or "").lower()


def _on_celeryd_init(sender: Any = None, instance: Any = None, options: Any = None, **kwargs: Any) -> None:
    """``celery worker``: in the main process, before the pool processes are forked."""
    start(pool=_pool_name(instance, options))


def _on_worker_init(sender: Any = None, **kwargs: Any) -> None:
    """Every worker, also one embedded in another program (after celeryd_init for ``celery worker``)."""
    start(pool=_pool_name(sender))


def _on_worker_process_init(**kwargs: Any) -> None:
    """A pool process starts. Counting it also writes every metric of the process at zero into its file, so a series
    exists from the start and the first event after a restart is seen by increase() and rate()."""
    if _state["pool_processes"] is not None:
        _state["pool_processes"].inc()


def _on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    stop()


def _on_worker_process_shutdown(pid: int | None = None, **kwargs: Any) -> None:
    """A pool process exits: its live gauges go (its counters and histograms stay in the totals)."""
    directory = multiproc_dir()
    if _state["prepared"] and directory is not None and pid is not None:
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def connect() -> None:
    """Connect the worker signals (called by aistack/celery.py); harmless in processes that run no worker."""
    signals.celeryd_init.connect(_on_celeryd_init, weak=False, dispatch_uid="aistack.worker_metrics.celeryd_init")
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="aistack.worker_metrics.worker_init")
    signals.worker_process_init.connect(
        _on_worker_process_init, weak=False, dispatch_uid="aistack.worker_metrics.process_init"
    )
    signals.worker_shutdown.connect(_on_worker_shutdown, weak=False, dispatch_uid="aistack.worker_metrics.shutdown")
    signals.worker_process_shutdown.connect(
        _on_worker_process_shutdown, weak=False, dispatch_uid="aistack.worker_metrics.process_shutdown"
    )
