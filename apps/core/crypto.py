"""Digest, token and API-key helpers (no keys, no Django).

Secrets stored in the database are encrypted by django-cryptography's ``encrypt(...)`` model fields, keyed by
``CRYPTOGRAPHY_KEY`` (env ``FIELD_ENCRYPTION_KEY``, default ``SECRET_KEY``): that is the one encryption stack.
API keys are never encrypted: only their SHA-256 is stored (``generate_api_key``), and checked in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import Final

__all__ = [
    "API_KEY_DEFAULT_PREFIX",
    "constant_time_equals",
    "generate_api_key",
    "secure_token",
    "sha256_hex",
    "split_api_key",
]

API_KEY_DEFAULT_PREFIX: Final = "ask"
API_KEY_LOOKUP_LENGTH: Final = 8
API_KEY_SECRET_BYTES: Final = 32  # token_urlsafe(32) -> 43 characters
_API_KEY_ALPHABET: Final = string.ascii_letters + string.digits
_API_KEY_PREFIX_RE: Final = re.compile(r"[A-Za-z0-9]+")
_API_KEY_RE: Final = re.compile(r"([A-Za-z0-9]+)_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})")


def _to_bytes(value: str | bytes, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{name} must be str or bytes, not {type(value).__name__}")


# -- Digests, tokens, API keys ---------------------------------------------------------------------------------


def sha256_hex(data: str | bytes) -> str:
    """Hex SHA-256 of ``data`` (str is UTF-8 encoded)."""
    return hashlib.sha256(_to_bytes(data, "data")).hexdigest()


def secure_token(nbytes: int = 32) -> str:
    """Random urlsafe token with ``nbytes`` of entropy."""
    if nbytes < 1:
        raise ValueError("nbytes must be at least 1")
    return secrets.token_urlsafe(nbytes)


def generate_api_key(prefix: str = API_KEY_DEFAULT_PREFIX) -> tuple[str, str, str]:
    """Return ``(full_key, key_prefix, key_hash)``.

    ``full_key`` is ``<prefix>_<8 alphanumeric lookup id>_<43 char urlsafe secret>``; ``key_prefix`` is
    ``<prefix>_<lookup id>`` (store it, unique, for lookup); ``key_hash`` is ``sha256_hex(full_key)``.
    """
    if not isinstance(prefix, str) or not _API_KEY_PREFIX_RE.fullmatch(prefix):
        raise ValueError("API key prefix must be non-empty and contain only [A-Za-z0-9].")
    lookup_id = "".join(secrets.choice(_API_KEY_ALPHABET) for _ in range(API_KEY_LOOKUP_LENGTH))
    key_prefix = f"{prefix}_{lookup_id}"
    full_key = f"{key_prefix}_{secrets.token_urlsafe(API_KEY_SECRET_BYTES)}"
    return full_key, key_prefix, sha256_hex(full_key)


def split_api_key(full_key: str, *, prefix: str | None = None) -> str | None:
    """Return the ``<prefix>_<lookup id>`` part of an API key, or None if it is not in that format.

    If ``prefix`` is given, keys with a different prefix also give None.
    """
    if not isinstance(full_key, str):
        return None
    match = _API_KEY_RE.fullmatch(full_key)
    if match is None or (prefix is not None and match.group(1) != prefix):
        return None
    return f"{match.group(1)}_{match.group(2)}"


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two strings in constant time (False if either is not a str)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
