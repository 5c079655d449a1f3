"""Django's makemessages with this project's defaults: only our code (apps/, aistack/, templates/) is scanned, and
the catalogue carries no source locations or obsolete entries (so it changes only when a message does).

    python manage.py makemessages -l zh_Hans
"""

from typing import Any

from django.core.management.commands import makemessages

# Everything at the top level that is not our translatable code: tests, tooling, data and build output.
PROJECT_IGNORE_PATTERNS = [
    "tests/*",
    "benchmarks/*",
    "deploy/*",
    "docs/*",
    "integrations/*",
    "monitoring/*",
    "static/*",
    "staticfiles/*",
    "media/*",
    "var/*",
    "backups/*",
    "node_modules/*",
    "build/*",
]


class Command(makemessages.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *PROJECT_IGNORE_PATTERNS]
        options["no_location"] = True
        options["no_obsolete"] = True
        super().handle(*args, **options)
