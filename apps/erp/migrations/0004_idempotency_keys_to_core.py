"""Idempotency-Keys moved to apps.core: the stored keys are copied into core's table (the endpoint path is the new
``scope``, so a retry after the upgrade still replays), then the ERP table is dropped."""

from django.db import migrations

BATCH = 1000


def copy_to_core(apps, schema_editor):
    old = apps.get_model("erp", "IdempotencyKey")
    new = apps.get_model("core", "IdempotencyKey")
    rows = []
    for item in old.objects.order_by("pk").iterator(chunk_size=BATCH):
        rows.append(
            new(
                scope=item.endpoint,
                user_id=item.user_id,
                key=item.key,
                request_hash=item.request_hash,
                response_status=item.response_status,
                response_body=item.response_body,
                created_at=item.created_at,
            )
        )
        if len(rows) >= BATCH:
            new.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    new.objects.bulk_create(rows, ignore_conflicts=True)


def copy_back(apps, schema_editor):
    old = apps.get_model("erp", "IdempotencyKey")
    new = apps.get_model("core", "IdempotencyKey")
    old.objects.bulk_create(
        [
            old(
                endpoint=item.scope,
                user_id=item.user_id,
                key=item.key,
                request_hash=item.request_hash,
                response_status=item.response_status,
                response_body=item.response_body,
                created_at=item.created_at,
            )
            for item in new.objects.filter(scope__contains="/erp/").order_by("pk")
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("erp", "0003_partial_invoicing"),
        ("core", "0003_idempotency_keys"),
    ]

    operations = [
        migrations.RunPython(copy_to_core, copy_back),
        migrations.DeleteModel(name="IdempotencyKey"),
    ]
