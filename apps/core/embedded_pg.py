"""The embedded PostgreSQL 16 + pgvector server (pgserver) used when DATABASE_URL is not set.

Nothing here runs at import time: the database backend calls ``ensure_running`` on its first connection, and
``manage.py embedded_db start|stop|status`` manages it by hand. The server is left running when the process exits, so
it survives dev-server reloads; it listens on a Unix socket only (no TCP port).
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_socket_dirs: dict[str, str] = {}
_databases_checked: set[tuple[str, str]] = set()


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pgserver

    return pgserver


def _postmaster_socket_dir(pgdata: Path) -> str | None:
    """The socket directory of a live server on pgdata, or None when none is running."""
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    socket_dir = lines[4].strip()
    port = lines[3].strip()
    if socket_dir and (Path(socket_dir) / f".s.PGSQL.{port}").exists():
        return socket_dir
    return None


def ensure_running(pgdata: str | Path) -> str:
    """Start the server for ``pgdata`` unless it runs already; return the directory of its Unix socket."""
    path = Path(pgdata).expanduser().resolve()
    key = str(path)
    cached = _socket_dirs.get(key)
    if cached and _postmaster_socket_dir(path) == cached:
        return cached
    with _lock:
        socket_dir = _postmaster_socket_dir(path)
        if socket_dir is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            logger.info("Starting embedded PostgreSQL in %s", path)
            server = _pgserver().get_server(path, cleanup_mode=None)
            info = server.get_postmaster_info()
            socket_dir = str(info.socket_dir)
        _socket_dirs[key] = socket_dir
        return socket_dir


def ensure_database(pgdata: str | Path, name: str, user: str = "postgres") -> None:
    """Create database ``name`` on the embedded server when it does not exist yet."""
    marker = (str(pgdata), name)
    if marker in _databases_checked:
        return
    import psycopg
    from psycopg import sql

    socket_dir = ensure_running(pgdata)
    with psycopg.connect(host=socket_dir, dbname="postgres", user=user, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            logger.info("Creating database %s on the embedded server", name)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _databases_checked.add(marker)


def status(pgdata: str | Path) -> dict[str, str | bool | None]:
    path = Path(pgdata).expanduser().resolve()
    socket_dir = _postmaster_socket_dir(path)
    return {"pgdata": str(path), "running": socket_dir is not None, "socket_dir": socket_dir}


def stop(pgdata: str | Path) -> bool:
    """Stop the server on ``pgdata``; False when none was running."""
    path = Path(pgdata).expanduser().resolve()
    if _postmaster_socket_dir(path) is None:
        return False
    pgserver = _pgserver()
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    server = pgserver.get_server(path, cleanup_mode=None)
    pg_ctl(["-w", "stop"], pgdata=path, user=server.system_user)
    _socket_dirs.pop(str(path), None)
    _databases_checked.difference_update({m for m in _databases_checked if m[0] == str(pgdata)})
    return True
