from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core import embedded_pg


class Command(BaseCommand):
    help = "Start, stop or show the embedded PostgreSQL server (used when DATABASE_URL is not set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.USING_EMBEDDED_DB:
            if options["action"] != "start":
                raise CommandError("DATABASE_URL is set: the embedded server is not in use.")
            self.stdout.write("DATABASE_URL is set: using that server, not the embedded one.")
            return
        pgdata = settings.EMBEDDED_PGDATA
        action = options["action"]
        if action == "start":
            socket_dir = embedded_pg.ensure_running(pgdata)
            embedded_pg.ensure_database(pgdata, settings.DATABASES["default"]["NAME"])
            self.stdout.write(f"Embedded PostgreSQL running: data {pgdata}, socket {socket_dir}")
        elif action == "stop":
            stopped = embedded_pg.stop(pgdata)
            self.stdout.write("Stopped." if stopped else "Not running.")
        else:
            info = embedded_pg.status(pgdata)
            state = "running" if info["running"] else "stopped"
            self.stdout.write(f"{state}: data {info['pgdata']}, socket {info['socket_dir']}")
