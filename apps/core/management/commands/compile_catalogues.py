"""Compile the translation catalogues (LOCALE_PATHS) to .mo files without GNU gettext."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.core.locale_compile import catalogue_compile


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/*.po to .mo (pure Python; only stale or missing files unless --force)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="Recompile every catalogue.")

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        written = catalogue_compile(locale_dirs=settings.LOCALE_PATHS, force=force)
        for path in written:
            self.stdout.write(f"compiled {path}")
        if not written:
            self.stdout.write("catalogues up to date")
