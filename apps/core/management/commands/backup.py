"""Back up the database with pg_dump (custom format) or restore such a dump with pg_restore.

    manage.py backup                                  # -> backups/aistack-<UTC timestamp>.dump
    manage.py backup --output /srv/backups/nightly.dump
    manage.py backup --restore FILE --into aistack_check   # restore drill into another database (created if missing)
    manage.py backup --restore FILE --noinput              # replaces the objects of the configured database

The client tools are PostgreSQL 16's (shipped with the embedded server's package), so they can dump and restore
any server up to 16 whether it is the embedded one or the one in ``DATABASE_URL``; ``PG_BIN_DIR`` points elsewhere.
Uploaded files (``MEDIA_ROOT``) are not in the dump: back them up beside it (docs/DEPLOYMENT.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess  # nosec B404
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from psycopg import sql


def _tool(name: str) -> str:
    """The path of a PostgreSQL client tool: PG_BIN_DIR, then the embedded server's binaries, then PATH."""
    candidates = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]) / name)
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise CommandError(f"{name} not found: install the PostgreSQL client tools or set PG_BIN_DIR.")
    return found


def _params() -> dict[str, Any]:
    """libpq connection parameters of the default database (the embedded server is started if needed)."""
    connection.ensure_connection()
    params = dict(connection.get_connection_params())
    return {key: params[key] for key in ("host", "port", "user", "password", "dbname") if params.get(key)}


def _conninfo(params: dict[str, Any], dbname: str) -> tuple[list[str], dict[str, str]]:
    """Command-line options and environment (the password never appears in the process list)."""
    args = ["--dbname", dbname]
    if params.get("host"):
        args += ["--host", str(params["host"])]
    if params.get("port"):
        args += ["--port", str(params["port"])]
    if params.get("user"):
        args += ["--username", str(params["user"])]
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    """PostgreSQL's own client tools, run with an argument list (never through a shell)."""
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # nosec B603
    if result.returncode != 0:
        raise CommandError(f"{Path(command[0]).name} failed: {result.stderr.strip() or result.returncode}")


class Command(BaseCommand):
    help = "Back up the database to a pg_dump file (custom format), or restore one with --restore."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", help="dump file to write (default: backups/aistack-<UTC timestamp>.dump)")
        parser.add_argument("--restore", metavar="FILE", help="restore this dump instead of taking one")
        parser.add_argument(
            "--into", metavar="DATABASE", help="restore into this database (created when missing), e.g. for a drill"
        )
        parser.add_argument("--noinput", "--no-input", action="store_true", help="do not ask before restoring")

    def handle(self, *args: Any, **options: Any) -> None:
        params = _params()
        if options["restore"]:
            self._restore(params, Path(options["restore"]), options["into"], interactive=not options["noinput"])
        else:
            if options["into"]:
                raise CommandError("--into applies to --restore only.")
            self._dump(params, options["output"])

    def _dump(self, params: dict[str, Any], output: str | None) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = Path(output) if output else Path(settings.BASE_DIR) / "backups" / f"aistack-{stamp}.dump"
        path.parent.mkdir(parents=True, exist_ok=True)
        args, env = _conninfo(params, params["dbname"])
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(path), *args], env)
        self.stdout.write(f"Backed up database {params['dbname']} to {path} ({path.stat().st_size:,} bytes)")

    def _restore(self, params: dict[str, Any], path: Path, into: str | None, *, interactive: bool) -> None:
        if not path.is_file():
            raise CommandError(f"No such dump file: {path}")
        target = into or params["dbname"]
        if into:
            self._create_database(params, into)
        elif interactive:
            try:
                answer = input(f"Replace the objects of database {target!r} with {path}? Type 'yes' to go on: ")
            except EOFError:
                raise CommandError("Restore cancelled: no answer (use --noinput to restore without asking).") from None
            if answer.strip().lower() != "yes":
                raise CommandError("Restore cancelled.")
        args, env = _conninfo(params, target)
        restore = [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction", *args]
        if not into:
            restore[1:1] = ["--clean", "--if-exists"]
        _run([*restore, str(path)], env)
        self.stdout.write(f"Restored {path} into database {target}")

    @staticmethod
    def _create_database(params: dict[str, Any], name: str) -> None:
        conninfo = {key: value for key, value in params.items() if key != "dbname"}
        with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists:
                tables = psycopg.connect(dbname=name, **conninfo)
                with tables:
                    count = tables.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
                if count and count[0]:
                    raise CommandError(f"Database {name!r} already holds tables; restore into a new or empty one.")
                return
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
