"""Encryption, hashing and token helpers.

``EncryptionService`` issues AES-256-GCM tokens (with key rotation) and Fernet tokens from one list of keys.
The module-level helpers (password hashing, API keys, digests) need no keys and no Django.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "API_KEY_DEFAULT_PREFIX",
    "DEFAULT_PASSWORD_ITERATIONS",
    "CryptoError",
    "EncryptionService",
    "constant_time_equals",
    "generate_api_key",
    "get_encryption_service",
    "hash_password",
    "secure_token",
    "sha256_hex",
    "split_api_key",
    "verify_password",
]

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
KEY_ID_SIZE: Final = 4
TOKEN_VERSION: Final = 1
FERNET_HKDF_INFO: Final = b"aistack-fernet"

_HEADER_SIZE: Final = 1 + KEY_ID_SIZE
_MIN_TOKEN_SIZE: Final = _HEADER_SIZE + NONCE_SIZE + TAG_SIZE
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]+")

PASSWORD_ALGORITHM: Final = "pbkdf2_sha256"
DEFAULT_PASSWORD_ITERATIONS: Final = 600_000
MAX_PASSWORD_ITERATIONS: Final = 10_000_000
PASSWORD_SALT_SIZE: Final = 16
_PASSWORD_HASH_SIZE: Final = 32

API_KEY_DEFAULT_PREFIX: Final = "ask"
API_KEY_LOOKUP_LENGTH: Final = 8
API_KEY_SECRET_BYTES: Final = 32  # token_urlsafe(32) -> 43 characters
_API_KEY_ALPHABET: Final = string.ascii_letters + string.digits
_API_KEY_PREFIX_RE: Final = re.compile(r"[A-Za-z0-9]+")
_API_KEY_RE: Final = re.compile(r"([A-Za-z0-9]+)_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})")


class CryptoError(Exception):
    """A token could not be decrypted or authenticated (tampered, wrong key, malformed)."""


def _to_bytes(value: str | bytes, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{name} must be str or bytes, not {type(value).__name__}")


def _decode_key(key: str | bytes, position: int) -> bytes:
    """Decode one configured base64 (standard or urlsafe, padding optional) key to its 32 raw bytes."""
    if isinstance(key, str):
        try:
            text = key.strip().encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"Encryption key at position {position} is not valid base64.") from None
    elif isinstance(key, bytes):
        text = key.strip()
    else:
        raise TypeError(f"Encryption key at position {position} must be str or bytes, not {type(key).__name__}.")
    text = text.replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
    text += b"=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"Encryption key at position {position} is not valid base64.") from None
    if len(raw) != KEY_SIZE:
        raise ValueError(
            f"Encryption key at position {position} must decode to {KEY_SIZE} bytes, got {len(raw)} bytes."
        )
    return raw


def _key_id(raw_key: bytes) -> bytes:
    return hashlib.sha256(raw_key).digest()[:KEY_ID_SIZE]


def _derive_fernet_key(raw_key: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=FERNET_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(raw_key))


def _encode_token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_token(token: str) -> bytes:
    """Decode an unpadded urlsafe-base64 token; only the canonical encoding is accepted."""
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise CryptoError("Malformed token.")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise CryptoError("Malformed token.") from None
    if _encode_token(raw) != token:
        raise CryptoError("Malformed token.")
    return raw


def _check_associated_data(associated_data: bytes | None) -> bytes:
    if associated_data is None:
        return b""
    if not isinstance(associated_data, bytes):
        raise TypeError(f"associated_data must be bytes or None, not {type(associated_data).__name__}")
    return associated_data


class EncryptionService:
    """AES-256-GCM and Fernet encryption over a list of base64 32-byte keys, newest first.

    Token layout (urlsafe base64, unpadded): ``version(1) | key_id(4) | nonce(12) | ciphertext+tag``.
    The key id is the first 4 bytes of SHA-256 of the raw key; version and key id are authenticated as AAD.
    """

    __slots__ = ("_ciphers", "_fernet", "_primary_key_id")

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if isinstance(keys, str | bytes):
            raise TypeError("keys must be a sequence of base64 keys (newest first), not a single key.")
        raw_keys = [_decode_key(key, position) for position, key in enumerate(keys)]
        if not raw_keys:
            raise ValueError("At least one encryption key is required.")
        self._ciphers: dict[bytes, AESGCM] = {}
        for position, raw_key in enumerate(raw_keys):
            key_id = _key_id(raw_key)
            if key_id in self._ciphers:
                raise ValueError(f"Encryption key at position {position} duplicates an earlier key (same key id).")
            self._ciphers[key_id] = AESGCM(raw_key)
        self._primary_key_id = _key_id(raw_keys[0])
        self._fernet = MultiFernet([Fernet(_derive_fernet_key(raw_key)) for raw_key in raw_keys])

    def __repr__(self) -> str:
        return f"<EncryptionService keys={len(self._ciphers)} primary={self._primary_key_id.hex()}>"

    @property
    def primary_key_id(self) -> str:
        """Hex key id of the newest key (the one used for encryption)."""
        return self._primary_key_id.hex()

    @staticmethod
    def generate_key() -> str:
        """Return a new random 32-byte key, urlsafe-base64 encoded."""
        return base64.urlsafe_b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii")

    # -- AES-256-GCM -------------------------------------------------------------------------------------------

    def encrypt(self, plaintext: str | bytes, *, associated_data: bytes | None = None) -> str:
        """Encrypt with the newest key and a random 96-bit nonce; return a urlsafe token string."""
        data = _to_bytes(plaintext, "plaintext")
        aad = _check_associated_data(associated_data)
        header = bytes([TOKEN_VERSION]) + self._primary_key_id
        nonce = secrets.token_bytes(NONCE_SIZE)
        ciphertext = self._ciphers[self._primary_key_id].encrypt(nonce, data, header + aad)
        return _encode_token(header + nonce + ciphertext)

    def _parse(self, token: str) -> tuple[bytes, AESGCM]:
        raw = _decode_token(token)
        if len(raw) < _MIN_TOKEN_SIZE:
            raise CryptoError("Malformed token.")
        if raw[0] != TOKEN_VERSION:
            raise CryptoError("Unsupported token version.")
        cipher = self._ciphers.get(raw[1:_HEADER_SIZE])
        if cipher is None:
            raise CryptoError("Token was encrypted with an unknown key.")
        return raw, cipher

    def decrypt(self, token: str, *, associated_data: bytes | None = None) -> bytes:
        """Decrypt a token made by ``encrypt`` with any configured key; raise ``CryptoError`` on failure."""
        aad = _check_associated_data(associated_data)
        raw, cipher = self._parse(token)
        header = raw[:_HEADER_SIZE]
        nonce = raw[_HEADER_SIZE : _HEADER_SIZE + NONCE_SIZE]
        try:
            return cipher.decrypt(nonce, raw[_HEADER_SIZE + NONCE_SIZE :], header + aad)
        except (InvalidTag, ValueError, OverflowError):
            raise CryptoError("Decryption failed: token is invalid or has been tampered with.") from None

    def decrypt_str(self, token: str, *, associated_data: bytes | None = None) -> str:
        """Like ``decrypt`` but return UTF-8 text."""
        data = self.decrypt(token, associated_data=associated_data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("Decrypted data is not valid UTF-8.") from None

    def rotate(self, token: str, *, associated_data: bytes | None = None) -> str:
        """Decrypt with whichever key matches and re-encrypt with the newest key."""
        return self.encrypt(self.decrypt(token, associated_data=associated_data), associated_data=associated_data)

    def needs_rotation(self, token: str) -> bool:
        """True if the token was not encrypted with the newest key (header check only, not authenticated).

        Raises ``CryptoError`` for malformed tokens or tokens whose key is not configured.
        """
        raw, _ = self._parse(token)
        return raw[1:_HEADER_SIZE] != self._primary_key_id

    # -- Fernet --------------------------------------------------------------------------------------------------

    def fernet_encrypt(self, data: str | bytes) -> str:
        """Encrypt with Fernet under the newest key (HKDF-derived, distinct from the AES key)."""
        return self._fernet.encrypt(_to_bytes(data, "data")).decode("ascii")

    def fernet_decrypt(self, token: str, *, ttl: int | None = None) -> bytes:
        """Decrypt a Fernet token with any configured key; ``ttl`` in seconds rejects older tokens."""
        try:
            return self._fernet.decrypt(self._fernet_token(token), ttl=ttl)
        except (InvalidToken, TypeError, ValueError):
            raise CryptoError("Invalid or expired Fernet token.") from None

    def fernet_rotate(self, token: str) -> str:
        """Re-encrypt a Fernet token under the newest key, keeping its original timestamp."""
        try:
            return self._fernet.rotate(self._fernet_token(token)).decode("ascii")
        except (InvalidToken, TypeError, ValueError):
            raise CryptoError("Invalid Fernet token.") from None

    @staticmethod
    def _fernet_token(token: str) -> bytes:
        if not isinstance(token, str):
            raise CryptoError("Invalid Fernet token.")
        try:
            return token.encode("ascii")
        except UnicodeEncodeError:
            raise CryptoError("Invalid Fernet token.") from None


# -- Passwords -------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, iterations: int = DEFAULT_PASSWORD_ITERATIONS, salt: bytes | None = None) -> str:
    """Hash with PBKDF2-HMAC-SHA256: ``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``."""
    if not isinstance(password, str):
        raise TypeError("password must be str")
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError("iterations must be int")
    if not 1 <= iterations <= MAX_PASSWORD_ITERATIONS:
        raise ValueError(f"iterations must be between 1 and {MAX_PASSWORD_ITERATIONS}")
    if salt is None:
        salt = secrets.token_bytes(PASSWORD_SALT_SIZE)
    elif not isinstance(salt, bytes) or not salt:
        raise ValueError("salt must be non-empty bytes")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, _PASSWORD_HASH_SIZE)
    return f"{PASSWORD_ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Check ``password`` against a ``hash_password`` string in constant time; never raises."""
    if not isinstance(password, str) or not isinstance(encoded, str):
        return False
    parts = encoded.split("$")
    if len(parts) != 4:
        return False
    algorithm, iterations_text, salt_text, hash_text = parts
    if algorithm != PASSWORD_ALGORITHM or not (iterations_text.isascii() and iterations_text.isdigit()):
        return False
    iterations = int(iterations_text)
    if not 1 <= iterations <= MAX_PASSWORD_ITERATIONS:
        return False
    try:
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(hash_text, validate=True)
        if not salt or len(expected) != _PASSWORD_HASH_SIZE:
            return False
        actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, _PASSWORD_HASH_SIZE)
    except (binascii.Error, ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


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


# -- Django integration ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _service_for_keys(keys: tuple[str | bytes, ...]) -> EncryptionService:
    return EncryptionService(keys)


def get_encryption_service() -> EncryptionService:
    """Service built from ``settings.AISTACK_ENCRYPTION_KEYS`` (newest first), cached per key tuple.

    A comma-separated string is accepted too. Missing or invalid keys raise ``ImproperlyConfigured``.
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    configured = getattr(settings, "AISTACK_ENCRYPTION_KEYS", None)
    if isinstance(configured, str):
        keys: tuple[str | bytes, ...] = tuple(part for part in configured.split(",") if part.strip())
    elif isinstance(configured, bytes):
        keys = (configured,)
    elif configured is None:
        keys = ()
    else:
        keys = tuple(configured)
    if not keys:
        raise ImproperlyConfigured(
            "AISTACK_ENCRYPTION_KEYS must list at least one base64-encoded 32-byte key (newest first)."
        )
    try:
        return _service_for_keys(keys)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"AISTACK_ENCRYPTION_KEYS is invalid: {exc}") from None
