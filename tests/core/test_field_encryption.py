"""django-cryptography's encrypted fields, as later apps use them for provider keys and other secrets."""

import pytest
from django.db import connection, models
from django_cryptography.fields import encrypt


@pytest.mark.django_db
def test_encrypted_field_round_trip_through_postgres_hides_the_plaintext():
    field = encrypt(models.CharField(max_length=200))
    field.set_attributes_from_name("api_key")
    assert field.get_internal_type() == "BinaryField"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE secrets (value bytea)")
        cursor.execute("INSERT INTO secrets VALUES (%s)", [field.get_db_prep_value("sk-live-secret-value", connection)])
        cursor.execute("SELECT value FROM secrets")
        stored = bytes(cursor.fetchone()[0])
    assert b"sk-live-secret-value" not in stored
    assert field.from_db_value(stored, None, connection) == "sk-live-secret-value"
