"""Tests for apps.core.crypto (no database needed): digests, tokens, API keys, constant-time comparison; and that
the home-made encryption service is gone (model fields use django-cryptography, keyed by CRYPTOGRAPHY_KEY)."""

from __future__ import annotations

import hashlib
import re

import pytest

from apps.core import crypto
from apps.core.crypto import constant_time_equals, generate_api_key, secure_token, sha256_hex, split_api_key


def test_one_encryption_stack() -> None:
    assert not hasattr(crypto, "EncryptionService") and not hasattr(crypto, "get_encryption_service")
    assert not hasattr(crypto, "hash_password")  # passwords are Django's auth hashers


# -- Digests, tokens, API keys -----------------------------------------------------------------------------------


def test_sha256_hex_known_vector() -> None:
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_hex("abc") == expected
    assert sha256_hex(b"abc") == expected
    assert sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_secure_token() -> None:
    token = secure_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert secure_token() != token
    assert len(secure_token(16)) == 22
    with pytest.raises(ValueError):
        secure_token(0)


class TestApiKeys:
    def test_format(self) -> None:
        full_key, key_prefix, key_hash = generate_api_key()
        assert re.fullmatch(r"ask_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}", full_key)
        assert re.fullmatch(r"ask_[A-Za-z0-9]{8}", key_prefix)
        assert full_key.startswith(key_prefix + "_")
        assert key_hash == sha256_hex(full_key) == hashlib.sha256(full_key.encode()).hexdigest()

    def test_uniqueness(self) -> None:
        keys = [generate_api_key() for _ in range(200)]
        assert len({full for full, _, _ in keys}) == 200
        assert len({prefix for _, prefix, _ in keys}) == 200
        assert len({digest for _, _, digest in keys}) == 200

    def test_split_round_trip(self) -> None:
        for _ in range(200):  # secrets often contain "_" and "-"
            full_key, key_prefix, _ = generate_api_key()
            assert split_api_key(full_key) == key_prefix

    def test_split_secret_with_underscores(self) -> None:
        full_key = "ask_Ab3dEf9h_" + "_-" * 21 + "x"
        assert split_api_key(full_key) == "ask_Ab3dEf9h"

    def test_custom_prefix(self) -> None:
        full_key, key_prefix, _ = generate_api_key("live")
        assert key_prefix.startswith("live_")
        assert split_api_key(full_key) == key_prefix
        assert split_api_key(full_key, prefix="live") == key_prefix
        assert split_api_key(full_key, prefix="ask") is None

    @pytest.mark.parametrize("prefix", ["", "a_b", "as-k", "ключ"])
    def test_invalid_prefix(self, prefix: str) -> None:
        with pytest.raises(ValueError):
            generate_api_key(prefix)

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "ask",
            "ask_",
            "ask_Ab3dEf9h",
            "ask_Ab3dEf9h_",
            "ask_Ab3dEf9h_short",
            "ask_Ab3d-f9h_" + "a" * 43,  # lookup id must be alphanumeric
            "ask_Ab3dEf9_" + "a" * 43,  # lookup id too short
            "ask_Ab3dEf9hX_" + "a" * 43,  # lookup id too long
            "_Ab3dEf9h_" + "a" * 43,  # empty prefix
            "ask_Ab3dEf9h_" + "a" * 42 + "!",
            "ask_Ab3dEf9h_" + "a" * 44,
            " ask_Ab3dEf9h_" + "a" * 43,
            "ask_Ab3dEf9h_" + "a" * 43 + "\n",
            None,
        ],
    )
    def test_split_rejects_bad_format(self, value: object) -> None:
        assert split_api_key(value) is None  # type: ignore[arg-type]


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "abcd")
    assert constant_time_equals("ünï", "ünï")
    assert constant_time_equals("", "")
    assert not constant_time_equals("abc", None)  # type: ignore[arg-type]
