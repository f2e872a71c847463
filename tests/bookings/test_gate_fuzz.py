"""Thousands of mutated and forged passes at the gate, against a real booking: none is admitted.
A genuine pass is admitted once; its replay is refused; a retried scan is recorded once."""

import base64
import random
import struct
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bookings import gate, passes
from bookings.models import Booking, GateEvent, Pass
from portal.models import Port
from tests.bookings.test_gate import booking, border, border_officer, live  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

REFUSED_UNREAD = {"not_a_pass", "bad_signature", "unknown_code"}


def _raw(token: str) -> bytes:
    return base64.b32decode(token + "=" * (-len(token) % 8))


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def _body(claims: passes.Claims) -> bytes:
    """The signed part of a pass (the layout of bookings/passes.py), for any port code."""
    return struct.pack(
        ">B3sIII8s",
        passes.VERSION,
        claims.port_code.encode(),
        claims.booking_id,
        int(claims.valid_from.timestamp()) // 60,
        int(claims.valid_until.timestamp()) // 60,
        bytes.fromhex(claims.nonce),
    )


def _signed(claims: passes.Claims, key: Ed25519PrivateKey) -> str:
    """``claims`` in the pass layout, signed by ``key`` (the port's own or any other)."""
    body = _body(claims)
    return _encode(body + key.sign(body))


def _mutations(token: str, rng: random.Random) -> list[str]:
    raw = _raw(token)
    out = []
    for position in range(len(raw)):  # every byte, a few flips each
        for flip in (0x01, 0x80, rng.randrange(1, 256)):
            mutated = bytearray(raw)
            mutated[position] ^= flip
            out.append(_encode(bytes(mutated)))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567018=-_ ./"
    for _ in range(1200):  # characters replaced, dropped, added
        chars = list(token)
        for _ in range(rng.randint(1, 4)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        if rng.random() < 0.2:
            del chars[rng.randrange(len(chars))]
        if rng.random() < 0.2:
            chars.insert(rng.randrange(len(chars)), rng.choice(alphabet))
        text = "".join(chars)
        if text.strip().upper() != token:
            out.append(text)
    out += ["".join(rng.choice(alphabet) for _ in range(len(token))) for _ in range(300)]
    out += [token[:-1], token[1:], token + "A", token[:70], "", " ", "A" * len(token), "7" * len(token)]
    return [text for text in out if not _same_pass(text, raw)]


def _same_pass(text: str, raw: bytes) -> bool:
    """141 base32 characters carry 705 bits for 704: the last character has a spare bit, so
    each pass has two spellings of the same bytes. Those are the genuine pass, not a mutation."""
    text = text.strip().upper()
    try:
        return len(text) == len(_encode(raw)) and _raw(text) == raw
    except ValueError:
        return False


def _forgeries(claims: passes.Claims, rng: random.Random) -> list[str]:
    """Claims signed by keys that are not Khorgos's: random keys, another port's, and
    the real pass altered (window, booking, port, nonce) and signed again."""
    other_port_key = passes.private_key("TKS")
    altered = [
        claims,
        replace(claims, valid_from=claims.valid_from - timedelta(days=3)),
        replace(claims, valid_until=claims.valid_until + timedelta(days=30)),
        replace(claims, booking_id=claims.booking_id + 1),
        replace(claims, nonce=f"{rng.getrandbits(64):016x}"),
        replace(claims, port_code="ZZZ"),
    ]
    out = []
    for variant in altered:
        out.append(_signed(variant, other_port_key))
        out += [_signed(variant, Ed25519PrivateKey.generate()) for _ in range(40)]
    # Khorgos's own signature on altered claims: the signature no longer matches.
    genuine = _raw(passes.sign(claims))
    for variant in altered[1:]:
        out.append(_encode(_body(variant) + genuine[-passes.SIGNATURE_BYTES :]))
    return out


def test_thousands_of_mutated_and_forged_passes_are_never_admitted(border, booking, live):  # noqa: F811
    khorgos = booking.port
    rng = random.Random(20261122)
    claims = passes.verify(live.token)
    candidates = _mutations(live.token, rng) + _forgeries(claims, rng)
    assert len(candidates) > 2000
    reasons = {}
    for text in candidates:
        result = gate.scan(officer=border, port=khorgos, text=text)
        assert not result.admitted, text
        reasons[result.reason] = reasons.get(result.reason, 0) + 1
    assert set(reasons) <= REFUSED_UNREAD, reasons
    assert reasons["bad_signature"] > 800
    assert GateEvent.objects.filter(kind="refuse").count() == len(candidates)
    assert not GateEvent.objects.filter(kind="admit").exists()
    booking.refresh_from_db()
    assert (booking.status, booking.checked_in_at) == ("active", None)
    assert Pass.objects.get(pk=live.pk).used_at is None
    # After all that, the genuine pass still works, once.
    assert gate.scan(officer=border, port=khorgos, text=live.token).admitted


def test_another_ports_genuine_signature_cannot_open_this_gate(border, booking, live):  # noqa: F811
    """A pass for this booking, signed with Takshken's real key: refused at both ports."""
    khorgos, takshken = booking.port, Port.objects.get(code="TKS")
    claims = passes.verify(live.token)
    as_takshken = passes.sign(replace(claims, port_code="TKS"))
    assert passes.verify(as_takshken).port_code == "TKS"
    both = border_officer(["KHG", "TKS"])
    assert gate.scan(officer=both, port=khorgos, text=as_takshken).reason == "other_port"
    assert gate.scan(officer=both, port=takshken, text=as_takshken).reason == "bad_signature"
    assert Booking.objects.get(pk=booking.pk).status == "active"


def test_a_used_pass_is_refused_on_replay_and_a_retry_is_recorded_once(border, booking, live):  # noqa: F811
    khorgos = booking.port
    first = gate.scan(officer=border, port=khorgos, text=live.token, client_nonce="fuzz-1")
    for _ in range(20):
        retry = gate.scan(officer=border, port=khorgos, text=live.token, client_nonce="fuzz-1")
        assert (retry.admitted, retry.replayed, retry.event.pk) == (True, True, first.event.pk)
    for attempt in range(20):
        replay = gate.scan(officer=border, port=khorgos, text=live.token, client_nonce=f"replay-{attempt}")
        assert (replay.admitted, replay.reason) == (False, "already_used")
    assert GateEvent.objects.filter(kind="admit").count() == 1
    assert GateEvent.objects.filter(client_nonce="fuzz-1").count() == 1
    assert GateEvent.objects.count() == 21
