"""manage.py resources_sample: take one sample of this host and its services now and print it."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.resources.services.monitoring import host_sample_take, sample_metric_values


class Command(BaseCommand):
    help = (
        "Take one host and service sample now (CPU, memory, disk, load, network, PostgreSQL, Redis, Celery), store it "
        "and evaluate the thresholds, as the resources.sample_host beat job does; prints the sample."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the sample as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        sample = host_sample_take()
        fields = [f.name for f in sample._meta.concrete_fields if f.name not in {"id"}]
        data = {name: getattr(sample, name) for name in fields}
        data["taken_at"] = sample.taken_at.isoformat()
        if options["json"]:
            self.stdout.write(json.dumps({"id": sample.pk, **data}, sort_keys=True))
            return
        self.stdout.write(f"Sample {sample.pk} of {sample.host} at {data['taken_at']}")
        for name in fields:
            if name not in {"host", "taken_at"}:
                self.stdout.write(f"  {name}: {'-' if data[name] is None else data[name]}")
        over = {str(k): round(v, 1) for k, v in sample_metric_values(sample).items() if v is not None}
        self.stdout.write(f"  checked against thresholds: {over}")
