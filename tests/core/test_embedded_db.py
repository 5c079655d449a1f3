"""The embedded PostgreSQL 16 + pgvector server. Never stopped here: other test processes share it."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from apps.core import embedded_pg


@pytest.fixture(autouse=True)
def _embedded_only() -> None:
    if not settings.USING_EMBEDDED_DB:
        pytest.skip("DATABASE_URL is set: the embedded server is not in use")


@pytest.mark.django_db
def test_ensure_running_is_idempotent() -> None:
    first = embedded_pg.ensure_running(settings.EMBEDDED_PGDATA)
    second = embedded_pg.ensure_running(settings.EMBEDDED_PGDATA)
    assert first == second
    socket_dir = Path(first)
    assert socket_dir.is_dir()
    assert list(socket_dir.glob(".s.PGSQL.*")), "no PostgreSQL socket in the socket directory"
    # and the Django connection talks to that very server
    assert connection.settings_dict["HOST"] == first


def test_status_reports_running() -> None:
    socket_dir = embedded_pg.ensure_running(settings.EMBEDDED_PGDATA)
    info = embedded_pg.status(settings.EMBEDDED_PGDATA)
    assert info["running"] is True
    assert info["socket_dir"] == socket_dir
    assert info["pgdata"] == str(Path(settings.EMBEDDED_PGDATA).resolve())


def test_status_of_an_empty_directory_is_not_running(tmp_path: Path) -> None:
    info = embedded_pg.status(tmp_path / "nothing-here")
    assert info["running"] is False
    assert info["socket_dir"] is None


@pytest.mark.django_db
def test_server_is_postgresql_16() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        (version,) = cursor.fetchone()
    assert 160000 <= int(version) < 170000


@pytest.mark.django_db
def test_vector_extension_is_installed() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    assert row is not None, "pgvector is not installed in the test database"
    assert row[0]


@pytest.mark.django_db
def test_vector_cosine_distance() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '[1,0,0]'::vector(3) <=> '[0,1,0]'::vector(3), '[1,2,3]'::vector(3) <=> '[2,4,6]'::vector(3)"
        )
        orthogonal, parallel = cursor.fetchone()
    assert orthogonal == pytest.approx(1.0)
    assert parallel == pytest.approx(0.0, abs=1e-6)


@pytest.mark.django_db
def test_vector_nearest_neighbour_query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE t_embedding (id int PRIMARY KEY, v vector(3))")
        cursor.execute("INSERT INTO t_embedding VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')")
        cursor.execute("SELECT id FROM t_embedding ORDER BY v <=> '[1,0.05,0]' LIMIT 2")
        nearest = [row[0] for row in cursor.fetchall()]
    assert nearest == [1, 3]


def test_embedded_db_status_command() -> None:
    out = StringIO()
    call_command("embedded_db", "status", stdout=out)
    text = out.getvalue()
    assert text.startswith("running:"), text
    assert str(Path(settings.EMBEDDED_PGDATA).resolve()) in text
