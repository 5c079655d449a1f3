"""What the API returns matches what its schema declares: a blank-allowed email or URL is "" when unset, and the
schema says so (not a bare format: email / uri that "" would violate)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator, FormatChecker
from rest_framework import serializers

from apps.core.serializers import OptionalEmailField, OptionalURLField
from tests.core.test_security_input import _serializer_classes

pytestmark = pytest.mark.django_db


@cache
def _schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _valid(value: Any, schema: dict[str, Any]) -> bool:
    return Draft202012Validator(schema, format_checker=FormatChecker()).is_valid(value)


def test_me_of_a_user_without_email_matches_its_schema(client_for, make_user):
    user = make_user(role="user", email="")
    body = client_for(user).get("/api/v1/auth/me/").json()
    assert body["email"] == ""
    email = _schema()["components"]["schemas"]["Me"]["properties"]["email"]
    assert _valid("", email) and _valid("a@example.com", email) and not _valid("not an address", email)


def test_blank_allowed_emails_and_urls_declare_the_empty_string():
    """Every serializer field that may hold "" for an email or URL is one of core's optional fields (whose schema
    allows ""), wherever it is declared."""
    offenders = []
    for cls in _serializer_classes():
        try:
            instance = cls()
        except TypeError:
            continue
        for name, field in instance.fields.items():
            if isinstance(field, serializers.EmailField | serializers.URLField) and field.allow_blank:
                if not isinstance(field, OptionalEmailField | OptionalURLField):
                    offenders.append(f"{cls.__module__}.{cls.__name__}.{name}")
    assert offenders == []


def test_the_blank_allowed_emails_and_urls_of_the_schema_accept_the_empty_string():
    """The schema's own view of the fields that store "" (ERP contacts, provider URLs, users)."""
    from apps.chat.models import Provider
    from apps.erp.models import Customer

    assert Customer._meta.get_field("email").blank and Provider._meta.get_field("base_url").blank
    schemas = _schema()["components"]["schemas"]
    for component, prop in [("Customer", "email"), ("Provider", "base_url"), ("User", "email"), ("Me", "email")]:
        if component in schemas and prop in schemas[component].get("properties", {}):
            assert _valid("", schemas[component]["properties"][prop]), (component, prop)
