"""Pass tokens: genuine ones verify, altered, forged and foreign ones never do."""

import base64
import random
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bookings import passes

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def _claims(**changes):
    values = {
        "port_code": "KHG",
        "booking_id": 123456,
        "valid_from": START,
        "valid_until": START + timedelta(hours=1),
        "nonce": "0123456789abcdef",
    }
    return passes.Claims(**{**values, **changes})


def _raw(token):
    return bytearray(base64.b32decode(token + "=" * (-len(token) % 8)))


def _encode(raw):
    return base64.b32encode(bytes(raw)).decode().rstrip("=")


def test_a_genuine_pass_verifies_to_its_claims():
    token = passes.sign(_claims())
    assert len(token) == passes.TOKEN_LENGTH == 141
    assert token == token.upper()
    assert passes.verify(token) == _claims()
    assert passes.verify(f"  {token.lower()}\n") == _claims()  # as a scanner or a person may send it


def test_every_single_byte_change_is_refused():
    token = passes.sign(_claims())
    raw = _raw(token)
    tried = 0
    for position in range(len(raw)):
        for flip in (0x01, 0x80, 0xFF, *random.Random(position).sample(range(1, 255), 8)):
            mutated = bytearray(raw)
            mutated[position] ^= flip
            with pytest.raises(passes.PassError) as error:
                passes.verify(_encode(mutated))
            assert error.value.reason in {"bad_signature", "not_a_pass"}
            tried += 1
    assert tried == len(raw) * 11 == 968


def test_text_mutations_truncations_and_noise_are_refused():
    token = passes.sign(_claims())
    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567018=-_ ."
    candidates = [
        "",
        "hello",
        token[:-1],
        token + "A",
        token[1:],
        "A" * len(token),
        "7" * len(token),
        "https://example.com/" + token,
    ]
    for _ in range(2000):
        chars = list(token)
        for _ in range(rng.randint(1, 4)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        if "".join(chars) != token:
            candidates.append("".join(chars))
    candidates += ["".join(rng.choice(alphabet) for _ in range(len(token))) for _ in range(1000)]
    for candidate in candidates:
        with pytest.raises(passes.PassError):
            passes.verify(candidate)


def test_a_pass_signed_with_another_ports_key_is_refused():
    genuine = _raw(passes.sign(_claims(port_code="TKS")))
    forged = bytearray(genuine)
    forged[1:4] = b"KHG"  # claims Khorgos, signed by Takshken
    with pytest.raises(passes.PassError) as error:
        passes.verify(_encode(forged))
    assert error.value.reason == "bad_signature"


def test_a_pass_signed_by_a_stranger_or_for_an_unknown_port_is_refused():
    body = _raw(passes.sign(_claims()))[:24]
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(passes.PassError):
        passes.verify(_encode(body + stranger.sign(bytes(body))))
    unknown = bytearray(body)
    unknown[1:4] = b"XYZ"
    with pytest.raises(passes.PassError) as error:
        passes.verify(_encode(unknown + stranger.sign(bytes(unknown))))
    assert error.value.reason == "bad_signature"
    assert not (passes.settings.PASS_KEYS_DIR / "XYZ.pem").exists()


def test_keys_come_from_the_environment_before_files(settings):
    seed = bytes(range(32))
    settings.PASS_SIGNING_KEYS = "KHG=" + base64.b64encode(seed).decode()
    passes.private_key.cache_clear()
    try:
        token = passes.sign(_claims())
        expected = Ed25519PrivateKey.from_private_bytes(seed).public_key()
        raw = _raw(token)
        expected.verify(bytes(raw[24:]), bytes(raw[:24]))
        assert passes.verify(token).port_code == "KHG"
    finally:
        settings.PASS_SIGNING_KEYS = ""
        passes.private_key.cache_clear()


def test_production_needs_a_configured_key(settings, tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    settings.PRODUCTION = True
    settings.PASS_KEYS_DIR = tmp_path
    passes.private_key.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured):
            passes.sign(_claims())
    finally:
        passes.private_key.cache_clear()


def test_short_codes_avoid_ambiguous_letters():
    codes = {passes.new_short_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert not set("".join(codes)) & set("01OILUV")
    assert passes.normalise_short_code(" abcde-23456 ") == "ABCDE23456"
    assert passes.format_short_code("ABCDE23456") == "ABCDE-23456"
