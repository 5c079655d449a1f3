from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.core.services import roles_sync


class Command(BaseCommand):
    help = "Make the admin/manager/user/guest groups hold exactly the permissions of apps.core.roles (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = roles_sync()
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.details}") from exc
        for role, change in report.items():
            if change["added"] or change["removed"]:
                self.stdout.write(f"{role}: +{change['added']} -{change['removed']}")
            else:
                self.stdout.write(f"{role}: up to date")
        self.stdout.write(self.style.SUCCESS("Roles synchronised."))
