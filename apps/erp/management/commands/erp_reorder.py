from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.erp.selectors.inventory import reorder_suggestions
from apps.erp.services.housekeeping import reorder_draft_purchase_orders


class Command(BaseCommand):
    help = "List products under their reorder point; with --draft, draft purchase orders for them per supplier."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--draft", action="store_true", help="Draft purchase orders (same as the nightly job).")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = reorder_suggestions()
        for row in rows:
            self.stdout.write(
                f"{row['sku']:<16} available {row['available']:>10}  reorder point {row['reorder_point']:>10}  "
                f"suggest {row['suggested_quantity']:>10}  {row['supplier'] or '(no default supplier)'}"
            )
        self.stdout.write(f"{len(rows)} product(s) under their reorder point.")
        if options["draft"]:
            orders = reorder_draft_purchase_orders()
            self.stdout.write(
                self.style.SUCCESS(f"Drafted {len(orders)} purchase order(s): " + ", ".join(o.number for o in orders))
            )
