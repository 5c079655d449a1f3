"""``manage.py resources_reset_period``: start the current day or month again (used back to 0) for one user or
everyone, one meter or all (forgiveness after an incident or a billing dispute; audited). Periods also reset by
themselves: a new day or month starts a new counter."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.exceptions import ApplicationError

from ...meters import METERS
from ...services.plans import counters_reset


class Command(BaseCommand):
    help = "Reset the current day's or month's quota counters (for one user and/or meter); levels never reset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, choices=["day", "month"])
        parser.add_argument("--user", help="Only this user (username).")
        parser.add_argument("--meter", choices=sorted(m for m, spec in METERS.items() if not spec.level))
        parser.add_argument("--dry-run", action="store_true", help="Only say how many counters would be reset.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}")
        try:
            count = counters_reset(
                period=options["period"], user=user, meter=options["meter"], dry_run=options["dry_run"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        verb = "Would reset" if options["dry_run"] else "Reset"
        self.stdout.write(self.style.SUCCESS(f"{verb} {count} {options['period']} counters."))
