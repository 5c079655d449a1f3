from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.core.crypto import secure_token
from apps.core.roles import ADMIN, GUEST, MANAGER, ROLES, USER
from apps.core.services import roles_sync, user_create

DEMO_USERS = [
    # username, role, is_staff, is_superuser: each demo user is named after its role (the systems' demo data look
    # their owners up by these names)
    (ADMIN, ADMIN, True, True),
    (MANAGER, MANAGER, True, False),
    (USER, USER, True, False),
    (GUEST, GUEST, True, False),
]


class Command(BaseCommand):
    help = (
        "Load demo data: one user per role (admin, manager, user, guest), then each system's demo data "
        "(apps/<system>/demo.py: seed(stdout=...)). Idempotent; only with DEBUG or --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even when DEBUG is off.")
        parser.add_argument(
            "--reset-passwords", action="store_true", help="Give existing demo users new passwords (printed)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates users with printed passwords; it runs only with DEBUG or --force.")
        User = get_user_model()
        with transaction.atomic():
            roles_sync()
            for username, role, is_staff, is_superuser in DEMO_USERS:
                assert role in ROLES
                user = User.objects.filter(username=username).first()
                if user is None:
                    password = secure_token(12)
                    user_create(
                        username=username,
                        password=password,
                        roles=[role],
                        email=f"{username}@example.com",
                        is_staff=is_staff,
                        is_superuser=is_superuser,
                    )
                    self.stdout.write(f"created {username:<8} role={role:<8} password={password}")
                elif options["reset_passwords"]:
                    password = secure_token(12)
                    user.set_password(password)
                    user.save(update_fields=["password"])
                    self.stdout.write(f"reset   {username:<8} role={role:<8} password={password}")
                else:
                    self.stdout.write(f"exists  {username:<8} role={role:<8} (password unchanged; --reset-passwords)")
        for name in settings.SYSTEM_APPS:  # each system seeds its own data, in its own transaction
            if find_spec(f"apps.{name}.demo"):
                self.stdout.write(f"seeding {name} demo data")
                import_module(f"apps.{name}.demo").seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
