"""Signed passes: a short binary claim signed with the port's Ed25519 key, in base32.

A token is base32 (RFC 4648, no padding, upper case: QR alphanumeric mode and keyboard-wedge
scanners read it without case trouble) of

    version (1) | port code (3) | booking id (4) | slot start (4) | slot end (4) | nonce (8) | signature (64)

Times are whole minutes since the Unix epoch. The signature covers everything before it.
Because the key is public-key, a gate scanner with no network verifies a pass with the
port's public key alone.

Private keys never live in the database: they come from ``PASS_SIGNING_KEYS`` (``KHG=<base64
of the 32-byte seed>,TKS=...``) or from ``PASS_KEYS_DIR/<CODE>.pem``. Outside production a
missing key is generated into that directory on first use.
"""

import base64
import os
import secrets
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

VERSION = 1
_CLAIM = struct.Struct(">B3sIII8s")  # 24 bytes
SIGNATURE_BYTES = 64
TOKEN_BYTES = _CLAIM.size + SIGNATURE_BYTES
TOKEN_LENGTH = len(base64.b32encode(bytes(TOKEN_BYTES)).rstrip(b"="))

# No 0/O, 1/I/L or U/V: a short code is read aloud and typed on a phone.
SHORT_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
SHORT_CODE_LENGTH = 10


class PassError(Exception):
    """A token that is not a valid pass; ``reason`` is a stable code."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    port_code: str
    booking_id: int
    valid_from: datetime
    valid_until: datetime
    nonce: str  # 16 hex digits


def _minutes(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def _moment(minutes: int) -> datetime:
    return datetime.fromtimestamp(minutes * 60, tz=UTC)


# --- keys


def _configured_seeds() -> dict[str, bytes]:
    seeds = {}
    for part in filter(None, (p.strip() for p in settings.PASS_SIGNING_KEYS.split(","))):
        code, _sep, value = part.partition("=")
        try:
            seed = base64.b64decode(value, validate=True)
        except ValueError:
            seed = b""
        if len(seed) != 32:
            raise ImproperlyConfigured(f"PASS_SIGNING_KEYS: the key of {code} is not 32 bytes in base64.")
        seeds[code.strip().upper()] = seed
    return seeds


@cache
def private_key(port_code: str) -> Ed25519PrivateKey:
    port_code = port_code.upper()
    seeds = _configured_seeds()
    if port_code in seeds:
        return Ed25519PrivateKey.from_private_bytes(seeds[port_code])
    path = Path(settings.PASS_KEYS_DIR) / f"{port_code}.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured(f"{path} is not an Ed25519 private key.")
        return key
    if settings.PRODUCTION:
        raise ImproperlyConfigured(f"No pass signing key for port {port_code}: set PASS_SIGNING_KEYS.")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Created with owner-only permissions; an existing file (another process won) is kept.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        private_key.cache_clear()
        return private_key(port_code)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return key


def public_key(port_code: str) -> Ed25519PublicKey:
    return private_key(port_code).public_key()


def public_key_b64(port_code: str) -> str:
    raw = public_key(port_code).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


# --- tokens


def new_nonce() -> str:
    return secrets.token_hex(8)


def new_short_code() -> str:
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))


def normalise_short_code(typed: str) -> str:
    """What the officer typed, as stored: upper case, no spaces or dashes."""
    return "".join(ch for ch in str(typed).upper() if ch.isalnum())


def format_short_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def sign(claims: Claims) -> str:
    code = claims.port_code.upper().encode("ascii")
    body = _CLAIM.pack(
        VERSION,
        code,
        claims.booking_id,
        _minutes(claims.valid_from),
        _minutes(claims.valid_until),
        bytes.fromhex(claims.nonce),
    )
    signature = private_key(claims.port_code).sign(body)
    return base64.b32encode(body + signature).decode().rstrip("=")


def looks_like_token(text: str) -> bool:
    return len(text.strip()) == TOKEN_LENGTH


def verify(token: str) -> Claims:
    """The claims of a genuine pass; PassError("not_a_pass" | "bad_signature") otherwise.

    Only the signature is checked here; the window, the port and the booking are the
    gate's business.
    """
    text = str(token).strip().upper()
    if len(text) != TOKEN_LENGTH:
        raise PassError("not_a_pass")
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        raise PassError("not_a_pass") from None
    body, signature = raw[: _CLAIM.size], raw[_CLAIM.size :]
    version, code, booking_id, start, end, nonce = _CLAIM.unpack(body)
    if version != VERSION:
        raise PassError("not_a_pass")
    try:
        port_code = code.decode("ascii")
    except UnicodeDecodeError:
        raise PassError("not_a_pass") from None
    if not port_code.isalpha():
        raise PassError("not_a_pass")
    try:
        key = _verifying_key(port_code)
    except LookupError:
        raise PassError("bad_signature") from None
    try:
        key.verify(signature, body)
    except InvalidSignature:
        raise PassError("bad_signature") from None
    return Claims(port_code, booking_id, _moment(start), _moment(end), nonce.hex())


_known_ports: dict[str, float] = {}  # code -> when it was last read from the database


def _verifying_key(port_code: str) -> Ed25519PublicKey:
    """A forged token may name any three letters: keys exist only for real ports."""
    from portal.models import Port

    if port_code not in _known_ports:
        now = time.monotonic()
        if now - _known_ports.get("", 0) < 60:
            raise LookupError(port_code)
        _known_ports.clear()
        _known_ports.update(dict.fromkeys(Port.objects.values_list("code", flat=True), now))
        _known_ports[""] = now
        if port_code not in _known_ports:
            raise LookupError(port_code)
    return public_key(port_code)
