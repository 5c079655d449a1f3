"""manage.py backup: a real pg_dump of the test database, restored into a database of its own and read back."""

from __future__ import annotations

import io
import os

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import sql

from apps.core.models import AuditLog

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scratch_database():
    name = f"aistack_restore_drill_{os.getpid()}"
    params = {k: v for k, v in connection.get_connection_params().items() if k in ("host", "port", "user", "password")}
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_backup_then_restore_into_another_database(tmp_path, scratch_database, capsys):
    AuditLog.objects.create(action="create", target_type="backup.drill", target_id="42", message="restore me")
    dump = tmp_path / "nightly.dump"

    call_command("backup", output=str(dump))
    assert dump.stat().st_size > 0 and "Backed up database" in capsys.readouterr().out

    call_command("backup", restore=str(dump), into=scratch_database)
    params = {k: v for k, v in connection.get_connection_params().items() if k in ("host", "port", "user", "password")}
    with psycopg.connect(dbname=scratch_database, **params) as restored:
        row = restored.execute(
            "SELECT message FROM core_auditlog WHERE target_type = 'backup.drill' AND target_id = '42'"
        ).fetchone()
        has_vector = restored.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert row == ("restore me",) and has_vector == (1,)

    # A second restore into the now populated database is refused rather than mixed into it.
    with pytest.raises(CommandError, match="already holds tables"):
        call_command("backup", restore=str(dump), into=scratch_database)


def test_restore_of_a_missing_file_and_misplaced_into_are_refused(tmp_path):
    with pytest.raises(CommandError, match="No such dump file"):
        call_command("backup", restore=str(tmp_path / "missing.dump"), noinput=True)
    with pytest.raises(CommandError, match="--into applies to --restore only"):
        call_command("backup", into="elsewhere")


def test_restore_without_a_terminal_to_ask_is_cancelled(tmp_path, monkeypatch):
    dump = tmp_path / "any.dump"
    dump.write_bytes(b"PGDMP")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal: input() meets end of file
    with pytest.raises(CommandError, match="use --noinput"):
        call_command("backup", restore=str(dump))
