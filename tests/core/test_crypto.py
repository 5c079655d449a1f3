"""Tests for apps.core.crypto (no database needed)."""

from __future__ import annotations

import base64
import hashlib
import re
import time

import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from apps.core.crypto import (
    CryptoError,
    EncryptionService,
    constant_time_equals,
    generate_api_key,
    get_encryption_service,
    hash_password,
    secure_token,
    sha256_hex,
    split_api_key,
    verify_password,
)

FAST = 1_000  # PBKDF2 iterations for tests


def _b64decode_token(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _b64encode_token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _flip(token: str, index: int) -> str:
    raw = bytearray(_b64decode_token(token))
    raw[index] ^= 0x01
    return _b64encode_token(bytes(raw))


@pytest.fixture
def key_a() -> str:
    return EncryptionService.generate_key()


@pytest.fixture
def key_b() -> str:
    return EncryptionService.generate_key()


@pytest.fixture
def service(key_a: str) -> EncryptionService:
    return EncryptionService([key_a])


# -- AES-256-GCM -------------------------------------------------------------------------------------------------


class TestAesGcm:
    @pytest.mark.parametrize("plaintext", ["hello world", "ünïcødé ✓", "", "x" * 10_000])
    def test_round_trip_str(self, service: EncryptionService, plaintext: str) -> None:
        token = service.encrypt(plaintext)
        assert service.decrypt_str(token) == plaintext
        assert service.decrypt(token) == plaintext.encode("utf-8")

    @pytest.mark.parametrize("plaintext", [b"\x00\x01\xff binary", b"", bytes(range(256))])
    def test_round_trip_bytes(self, service: EncryptionService, plaintext: bytes) -> None:
        assert service.decrypt(service.encrypt(plaintext)) == plaintext

    def test_token_is_urlsafe_and_self_describing(self, service: EncryptionService, key_a: str) -> None:
        token = service.encrypt("abc")
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        raw = _b64decode_token(token)
        raw_key = base64.urlsafe_b64decode(key_a)
        assert raw[0] == 1  # version
        assert raw[1:5] == hashlib.sha256(raw_key).digest()[:4]  # key id
        assert service.primary_key_id == raw[1:5].hex()
        assert len(raw) == 1 + 4 + 12 + len(b"abc") + 16  # header, nonce, ciphertext, tag

    def test_same_plaintext_gives_different_tokens(self, service: EncryptionService) -> None:
        first, second = service.encrypt("same"), service.encrypt("same")
        assert first != second
        assert _b64decode_token(first)[5:17] != _b64decode_token(second)[5:17]  # nonces differ
        assert service.decrypt_str(first) == service.decrypt_str(second) == "same"

    def test_tampering_with_any_byte_fails(self, service: EncryptionService) -> None:
        token = service.encrypt("secret payload", associated_data=b"ctx")
        size = len(_b64decode_token(token))
        # 0: version, 1-4: key id, 5-16: nonce, then ciphertext, last 16: tag.
        for index in range(size):
            with pytest.raises(CryptoError):
                service.decrypt(_flip(token, index), associated_data=b"ctx")
        assert service.decrypt(token, associated_data=b"ctx") == b"secret payload"

    def test_tampering_with_any_character_fails(self, service: EncryptionService) -> None:
        token = service.encrypt("secret payload")
        for index, char in enumerate(token):
            replacement = "A" if char != "A" else "B"
            with pytest.raises(CryptoError):
                service.decrypt(token[:index] + replacement + token[index + 1 :])

    def test_truncated_or_extended_token_fails(self, service: EncryptionService) -> None:
        token = service.encrypt("secret payload")
        raw = _b64decode_token(token)
        for bad in (raw[:-1], raw[:20], raw + b"\x00"):
            with pytest.raises(CryptoError):
                service.decrypt(_b64encode_token(bad))

    @pytest.mark.parametrize(
        "bad",
        ["", "!!!!", "abc", "a b c", "é" * 40, "A" * 10, "A" * 45, "A" * 100, "=" * 8, None, b"bytes-token", 42],
    )
    def test_malformed_tokens_raise_crypto_error(self, service: EncryptionService, bad: object) -> None:
        with pytest.raises(CryptoError):
            service.decrypt(bad)  # type: ignore[arg-type]

    def test_padded_token_is_rejected(self, service: EncryptionService) -> None:
        token = service.encrypt("ab")
        padded = token + "=" * (-len(token) % 4 or 4)
        with pytest.raises(CryptoError):
            service.decrypt(padded)

    def test_associated_data(self, service: EncryptionService) -> None:
        token = service.encrypt("value", associated_data=b"user:1")
        assert service.decrypt_str(token, associated_data=b"user:1") == "value"
        for wrong in (b"user:2", b"", None):
            with pytest.raises(CryptoError):
                service.decrypt(token, associated_data=wrong)
        plain = service.encrypt("value")
        with pytest.raises(CryptoError):
            service.decrypt(plain, associated_data=b"user:1")

    def test_associated_data_must_be_bytes(self, service: EncryptionService) -> None:
        with pytest.raises(TypeError):
            service.encrypt("value", associated_data="text")  # type: ignore[arg-type]

    def test_plaintext_type_is_checked(self, service: EncryptionService) -> None:
        with pytest.raises(TypeError):
            service.encrypt(123)  # type: ignore[arg-type]

    def test_decrypt_str_rejects_non_utf8(self, service: EncryptionService) -> None:
        token = service.encrypt(b"\xff\xfe")
        with pytest.raises(CryptoError):
            service.decrypt_str(token)

    def test_token_from_other_key_fails(self, key_a: str, key_b: str) -> None:
        token = EncryptionService([key_a]).encrypt("secret")
        service_b = EncryptionService([key_b])
        with pytest.raises(CryptoError):
            service_b.decrypt(token)
        # Even with the key id rewritten to B's, authentication fails.
        raw = bytearray(_b64decode_token(token))
        raw[1:5] = bytes.fromhex(service_b.primary_key_id)
        with pytest.raises(CryptoError):
            service_b.decrypt(_b64encode_token(bytes(raw)))

    def test_error_does_not_leak_key_material(self, key_a: str, key_b: str) -> None:
        token = EncryptionService([key_a]).encrypt("secret")
        for service, bad_token in ((EncryptionService([key_b]), token), (EncryptionService([key_a]), _flip(token, 30))):
            with pytest.raises(CryptoError) as excinfo:
                service.decrypt(bad_token)
            error = excinfo.value
            assert key_a not in str(error) and key_b not in str(error)
            # The underlying exception is neither chained nor shown as context.
            assert error.__cause__ is None
            assert error.__context__ is None or error.__suppress_context__

    def test_repr_hides_keys(self, service: EncryptionService, key_a: str) -> None:
        assert key_a not in repr(service)


class TestKeyRotation:
    def test_old_key_still_decrypts(self, key_a: str, key_b: str) -> None:
        old_token = EncryptionService([key_a]).encrypt("legacy")
        rotated_service = EncryptionService([key_b, key_a])
        assert rotated_service.decrypt_str(old_token) == "legacy"

    def test_new_tokens_use_newest_key(self, key_a: str, key_b: str) -> None:
        token = EncryptionService([key_b, key_a]).encrypt("fresh")
        assert EncryptionService([key_b]).decrypt_str(token) == "fresh"
        with pytest.raises(CryptoError):
            EncryptionService([key_a]).decrypt(token)

    def test_rotate_and_needs_rotation(self, key_a: str, key_b: str) -> None:
        old_token = EncryptionService([key_a]).encrypt("payload", associated_data=b"aad")
        service = EncryptionService([key_b, key_a])
        assert service.needs_rotation(old_token) is True

        new_token = service.rotate(old_token, associated_data=b"aad")
        assert new_token != old_token
        assert service.needs_rotation(new_token) is False
        assert EncryptionService([key_b]).decrypt(new_token, associated_data=b"aad") == b"payload"
        assert service.decrypt(old_token, associated_data=b"aad") == b"payload"

    def test_rotate_rejects_tampered_token(self, key_a: str, key_b: str) -> None:
        old_token = EncryptionService([key_a]).encrypt("payload")
        service = EncryptionService([key_b, key_a])
        with pytest.raises(CryptoError):
            service.rotate(_flip(old_token, 20))
        with pytest.raises(CryptoError):
            service.rotate(old_token, associated_data=b"wrong")

    def test_needs_rotation_errors(self, key_a: str, key_b: str) -> None:
        token = EncryptionService([key_a]).encrypt("payload")
        with pytest.raises(CryptoError):
            EncryptionService([key_b]).needs_rotation(token)
        with pytest.raises(CryptoError):
            EncryptionService([key_a]).needs_rotation("garbage!")


class TestKeyValidation:
    def test_accepts_standard_and_urlsafe_base64_with_or_without_padding(self) -> None:
        raw = bytes(range(250, 256)) + bytes(range(26))  # 32 bytes whose encoding contains +/ or -_
        standard = base64.b64encode(raw).decode()
        urlsafe = base64.urlsafe_b64encode(raw).decode()
        assert standard != urlsafe
        services = [
            EncryptionService([standard]),
            EncryptionService([urlsafe]),
            EncryptionService([urlsafe.rstrip("=")]),
            EncryptionService([standard.encode()]),
            EncryptionService([f"  {standard}\n"]),
        ]
        token = services[0].encrypt("same key")
        for service in services:
            assert service.decrypt_str(token) == "same key"

    def test_generate_key(self) -> None:
        key = EncryptionService.generate_key()
        assert len(base64.urlsafe_b64decode(key)) == 32
        assert key != EncryptionService.generate_key()

    @pytest.mark.parametrize(
        "keys",
        [
            [],
            (),
            [base64.b64encode(b"x" * 16).decode()],  # too short
            [base64.b64encode(b"x" * 33).decode()],  # too long
            ["not base64 at all!"],
            ["é" * 44],
            [""],
            [b"x" * 32],  # raw bytes instead of base64
        ],
    )
    def test_invalid_keys_raise_value_error(self, keys: list[str | bytes]) -> None:
        with pytest.raises(ValueError):
            EncryptionService(keys)

    def test_one_bad_key_among_good_ones(self, key_a: str) -> None:
        with pytest.raises(ValueError, match="position 1"):
            EncryptionService([key_a, "short"])

    def test_duplicate_key_rejected(self, key_a: str) -> None:
        with pytest.raises(ValueError, match="duplicate"):
            EncryptionService([key_a, key_a])

    def test_single_string_instead_of_list(self, key_a: str) -> None:
        with pytest.raises(TypeError):
            EncryptionService(key_a)

    def test_non_string_key(self) -> None:
        with pytest.raises(TypeError):
            EncryptionService([12345])  # type: ignore[list-item]

    def test_error_message_does_not_contain_key(self) -> None:
        bad_key = base64.b64encode(b"k" * 31).decode()
        with pytest.raises(ValueError) as excinfo:
            EncryptionService([bad_key])
        assert bad_key not in str(excinfo.value)
        assert "32 bytes" in str(excinfo.value)


# -- Fernet ------------------------------------------------------------------------------------------------------


def _expected_fernet(key: str) -> Fernet:
    raw = base64.urlsafe_b64decode(key)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"aistack-fernet").derive(raw)
    return Fernet(base64.urlsafe_b64encode(derived))


class TestFernet:
    @pytest.mark.parametrize("data", ["text ✓", b"\x00bytes", ""])
    def test_round_trip(self, service: EncryptionService, data: str | bytes) -> None:
        token = service.fernet_encrypt(data)
        assert isinstance(token, str)
        expected = data.encode() if isinstance(data, str) else data
        assert service.fernet_decrypt(token) == expected
        assert service.fernet_decrypt(token, ttl=3600) == expected

    def test_key_is_hkdf_derived_and_differs_from_aes_key(self, service: EncryptionService, key_a: str) -> None:
        token = service.fernet_encrypt("derived")
        assert _expected_fernet(key_a).decrypt(token.encode()) == b"derived"
        with pytest.raises(InvalidToken):
            Fernet(key_a.encode()).decrypt(token.encode())

    def test_tamper(self, service: EncryptionService) -> None:
        token = service.fernet_encrypt("payload")
        raw = bytearray(base64.urlsafe_b64decode(token))
        for index in (0, 5, 12, 30, len(raw) - 1):
            tampered = bytearray(raw)
            tampered[index] ^= 0x01
            with pytest.raises(CryptoError):
                service.fernet_decrypt(base64.urlsafe_b64encode(bytes(tampered)).decode())

    @pytest.mark.parametrize("bad", ["", "garbage", "é", None, 1])
    def test_malformed(self, service: EncryptionService, bad: object) -> None:
        with pytest.raises(CryptoError):
            service.fernet_decrypt(bad)  # type: ignore[arg-type]

    def test_ttl_expiry(self, service: EncryptionService, key_a: str) -> None:
        hour_ago = int(time.time()) - 3600
        token = _expected_fernet(key_a).encrypt_at_time(b"old", hour_ago).decode()
        assert service.fernet_decrypt(token) == b"old"  # no ttl: accepted
        assert service.fernet_decrypt(token, ttl=7200) == b"old"
        with pytest.raises(CryptoError):
            service.fernet_decrypt(token, ttl=60)

    def test_rotation_across_keys(self, key_a: str, key_b: str) -> None:
        old_token = EncryptionService([key_a]).fernet_encrypt("legacy")
        service = EncryptionService([key_b, key_a])
        assert service.fernet_decrypt(old_token) == b"legacy"
        with pytest.raises(CryptoError):
            EncryptionService([key_b]).fernet_decrypt(old_token)

        new_token = service.fernet_encrypt("fresh")
        assert EncryptionService([key_b]).fernet_decrypt(new_token) == b"fresh"
        with pytest.raises(CryptoError):
            EncryptionService([key_a]).fernet_decrypt(new_token)

        rotated = service.fernet_rotate(old_token)
        assert EncryptionService([key_b]).fernet_decrypt(rotated) == b"legacy"
        with pytest.raises(CryptoError):
            service.fernet_rotate("garbage")

    def test_aes_and_fernet_tokens_are_not_interchangeable(self, service: EncryptionService) -> None:
        with pytest.raises(CryptoError):
            service.fernet_decrypt(service.encrypt("x"))
        with pytest.raises(CryptoError):
            service.decrypt(service.fernet_encrypt("x"))


# -- Passwords ---------------------------------------------------------------------------------------------------


class TestPasswords:
    def test_hash_and_verify(self) -> None:
        encoded = hash_password("correct horse", iterations=FAST)
        assert verify_password("correct horse", encoded)
        assert not verify_password("wrong horse", encoded)
        assert not verify_password("", encoded)

    def test_format(self) -> None:
        encoded = hash_password("pw", iterations=FAST)
        algorithm, iterations, salt, digest = encoded.split("$")
        assert algorithm == "pbkdf2_sha256"
        assert iterations == str(FAST)
        assert len(base64.b64decode(salt)) == 16
        assert len(base64.b64decode(digest)) == 32

    def test_default_iterations(self) -> None:
        encoded = hash_password("pw", salt=b"0123456789abcdef")
        assert encoded.split("$")[1] == "600000"

    def test_matches_hashlib_with_explicit_salt(self) -> None:
        salt = b"fixed-salt-16byt"
        encoded = hash_password("pässword", iterations=FAST, salt=salt)
        expected = hashlib.pbkdf2_hmac("sha256", "pässword".encode(), salt, FAST)
        salt_b64, hash_b64 = base64.b64encode(salt).decode(), base64.b64encode(expected).decode()
        assert encoded == f"pbkdf2_sha256${FAST}${salt_b64}${hash_b64}"

    def test_random_salts_differ(self) -> None:
        first, second = hash_password("pw", iterations=FAST), hash_password("pw", iterations=FAST)
        assert first != second
        assert first.split("$")[2] != second.split("$")[2]
        assert verify_password("pw", first) and verify_password("pw", second)

    def test_iteration_count_is_honoured(self) -> None:
        salt = b"s" * 16
        low = hash_password("pw", iterations=FAST, salt=salt)
        high = hash_password("pw", iterations=FAST + 1, salt=salt)
        assert low.split("$")[3] != high.split("$")[3]
        assert verify_password("pw", low) and verify_password("pw", high)
        # Changing the stored iteration count invalidates the hash.
        assert not verify_password("pw", low.replace(f"${FAST}$", f"${FAST + 1}$"))

    @pytest.mark.parametrize("iterations", [0, -1, 10_000_001])
    def test_invalid_iterations(self, iterations: int) -> None:
        with pytest.raises(ValueError):
            hash_password("pw", iterations=iterations)

    @pytest.mark.parametrize(
        "encoded",
        [
            "",
            "garbage",
            "pbkdf2_sha256$1000$abc",
            "pbkdf2_sha256$1000$a$b$c",
            "md5$1000$c2FsdA==$aGFzaA==",
            "pbkdf2_sha256$abc$c2FsdA==$aGFzaA==",
            "pbkdf2_sha256$-5$c2FsdA==$aGFzaA==",
            "pbkdf2_sha256$0$c2FsdA==$aGFzaA==",
            "pbkdf2_sha256$99999999999$c2FsdA==$aGFzaA==",
            "pbkdf2_sha256$1000$!!notb64!!$aGFzaA==",
            "pbkdf2_sha256$1000$c2FsdA==$!!notb64!!",
            "pbkdf2_sha256$1000$$aGFzaA==",
            "pbkdf2_sha256$1000$c2FsdA==$aGFzaA==",  # hash has wrong length
            "pbkdf2_sha256$\uff11\uff10\uff10\uff10$c2FsdA==$aGFzaA==",  # fullwidth (non-ASCII) digits
            None,
            123,
        ],
    )
    def test_malformed_encoded_returns_false(self, encoded: object) -> None:
        assert verify_password("pw", encoded) is False  # type: ignore[arg-type]

    def test_non_string_password_returns_false(self) -> None:
        encoded = hash_password("pw", iterations=FAST)
        assert verify_password(None, encoded) is False  # type: ignore[arg-type]
        assert verify_password(b"pw", encoded) is False  # type: ignore[arg-type]

    def test_unencodable_password_returns_false(self) -> None:
        encoded = hash_password("pw", iterations=FAST)
        assert verify_password("\ud800", encoded) is False


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


# -- Django settings integration ---------------------------------------------------------------------------------


class TestGetEncryptionServiceFromSettings:
    def test_builds_service_from_settings(self, settings, key_a: str, key_b: str) -> None:
        settings.AISTACK_ENCRYPTION_KEYS = [key_a]
        service = get_encryption_service()
        token = service.encrypt("via settings")
        assert EncryptionService([key_a]).decrypt_str(token) == "via settings"
        assert get_encryption_service() is service  # cached per key tuple

        settings.AISTACK_ENCRYPTION_KEYS = [key_b, key_a]
        rotated = get_encryption_service()
        assert rotated is not service
        assert rotated.decrypt_str(token) == "via settings"
        assert rotated.needs_rotation(token)

    def test_comma_separated_string(self, settings, key_a: str, key_b: str) -> None:
        settings.AISTACK_ENCRYPTION_KEYS = f"{key_b}, {key_a}"
        token = EncryptionService([key_a]).encrypt("x")
        assert get_encryption_service().decrypt_str(token) == "x"

    def test_missing_or_invalid_keys(self, settings) -> None:
        from django.core.exceptions import ImproperlyConfigured

        settings.AISTACK_ENCRYPTION_KEYS = []
        with pytest.raises(ImproperlyConfigured):
            get_encryption_service()
        settings.AISTACK_ENCRYPTION_KEYS = ["too-short"]
        with pytest.raises(ImproperlyConfigured):
            get_encryption_service()
        del settings.AISTACK_ENCRYPTION_KEYS
        with pytest.raises(ImproperlyConfigured):
            get_encryption_service()
