"""A test signer for `CC1:` voucher codes, written from docs/voucher-format.md alone.

A test double of the ledger's issuing side: it shares no code with ``shop_terminal`` (its own
Base45, its own byte layout), so a misreading of the specification in one is not silently
repeated in the other. The fake ledger (fake_ledger.py) uses :func:`read_code` to check the
codes it is asked to redeem, as the real ledger does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
TAG = b"cooperative-credits/voucher/v1" + b"\x00"


def b45encode(data: bytes) -> str:
    chars = []
    for i in range(0, len(data) // 2 * 2, 2):
        n = (data[i] << 8) | data[i + 1]
        chars += [B45[n % 45], B45[(n // 45) % 45], B45[n // 2025]]
    if len(data) % 2:
        chars += [B45[data[-1] % 45], B45[data[-1] // 45]]
    return "".join(chars)


def b45decode(text: str) -> bytes:
    if len(text) % 3 == 1 or any(c not in B45 for c in text):
        raise ValueError("bad base45")
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [B45.index(c) for c in text[i : i + 3]]
        n = sum(v * 45**j for j, v in enumerate(chunk))
        size = 2 if len(chunk) == 3 else 1
        if n >= 256**size:
            raise ValueError("base45 group too large")
        out += n.to_bytes(size, "big")
    return bytes(out)


@dataclass
class SigningKey:
    """An Ed25519 key with its trust-list entry."""

    private: Ed25519PrivateKey
    status: str = "active"
    use: str = "voucher"

    @classmethod
    def from_seed(cls, seed: bytes, **kw: str) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed), **kw)

    @classmethod
    def generate(cls, **kw: str) -> SigningKey:
        return cls.from_seed(os.urandom(32), **kw)

    @property
    def raw_public(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.raw_public).digest()[:8]

    @property
    def kid(self) -> str:
        return self.key_id.hex()

    def entry(self) -> dict[str, str]:
        return {
            "kid": self.kid,
            "alg": "Ed25519",
            "public_key": base64.urlsafe_b64encode(self.raw_public).rstrip(b"=").decode(),
            "status": self.status,
            "use": self.use,
        }


def trust_list(*keys: SigningKey) -> dict[str, list[dict[str, str]]]:
    return {"keys": [k.entry() for k in keys]}


def sign_code(
    key: SigningKey,
    *,
    face_value: int,
    expires_at: int,
    voucher_id: bytes | None = None,
    scheme_id: int = 1,
    version: int = 1,
) -> str:
    """A `CC1:` code signed by ``key`` (any field may be set, even to invalid values)."""
    voucher_id = voucher_id if voucher_id is not None else os.urandom(16)
    payload = (
        struct.pack(">B8sH", version, key.key_id, scheme_id)
        + voucher_id
        + struct.pack(">II", face_value, expires_at)
    )
    assert len(payload) == 35
    return "CC1:" + b45encode(payload + key.private.sign(TAG + payload))


@dataclass(frozen=True)
class ReadCode:
    voucher_id: str
    face_value: int
    expires_at: int
    kid: str


def read_code(code: str, keys: dict[str, SigningKey], now: float) -> ReadCode | str:
    """Check a code as the ledger would; return its fields or the refusal code."""
    if len(code) > 200 or not code.startswith("CC1:"):
        return "malformed_code"
    try:
        raw = b45decode(code[4:])
    except ValueError:
        return "malformed_code"
    if len(raw) != 99 or raw[0] != 1:
        return "malformed_code"
    payload, sig = raw[:35], raw[35:]
    kid = payload[1:9].hex()
    key = keys.get(kid)
    if key is None or key.use != "voucher" or key.status not in ("active", "retired"):
        return "unknown_key"
    try:
        Ed25519PublicKey.from_public_bytes(key.raw_public).verify(sig, TAG + payload)
    except InvalidSignature:
        return "invalid_signature"
    face, expires = struct.unpack(">II", payload[27:35])
    if not 1 <= face <= 1_000_000:
        return "malformed_code"
    if now >= expires:
        return "expired"
    return ReadCode(payload[11:27].hex(), face, expires, kid)
