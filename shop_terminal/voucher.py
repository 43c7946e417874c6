"""The voucher code (`CC1:`) verifier and the trust list, from docs/voucher-format.md alone.

:func:`verify` applies the specification's six steps in order and stops at the first
failure, raising :class:`VoucherRefused` with the specification's error code
(``malformed_code``, ``unknown_key``, ``invalid_signature``, ``expired``). A code that
passes is genuine and unexpired; whether it was already spent is known only to the ledger
(or, offline, to this terminal's journal). Nothing here does I/O or reads the clock: the
caller passes ``now``, so the same code and trust list always give the same answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shop_terminal import base45

PREFIX = "CC1:"
MAX_CODE_CHARS = 200
VERSION = 1
PAYLOAD_BYTES = 35
SIGNATURE_BYTES = 64
CODE_BYTES = PAYLOAD_BYTES + SIGNATURE_BYTES  # 99
DOMAIN_TAG = b"cooperative-credits/voucher/v1\x00"
MIN_FACE_VALUE = 1
MAX_FACE_VALUE = 1_000_000
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Key statuses that still verify vouchers (a retired key verifies what it signed until the
# vouchers expire; a revoked key verifies nothing).
VERIFYING_STATUSES = frozenset({"active", "retired"})


class VoucherRefused(Exception):
    """The code is not a genuine, unexpired voucher. ``code`` is the specification's code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Voucher:
    """What a verified code says: who signed it, which voucher, how much, until when."""

    voucher_id: str  # lower-case hex of the 16-byte voucher_id
    face_value: int  # credits
    expires_at: int  # seconds since the epoch; valid while now < expires_at
    kid: str
    scheme_id: int

    @property
    def reference(self) -> str:
        """The voucher's spoken reference: ``XXXX-XXXX`` (see :func:`reference_of`)."""
        return reference_of(bytes.fromhex(self.voucher_id))

    @property
    def expires_at_utc(self) -> datetime:
        """``expires_at`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_at, UTC)


def reference_of(voucher_id: bytes) -> str:
    """The first 5 bytes of ``voucher_id`` in Crockford Base32, shown as ``XXXX-XXXX``."""
    n = int.from_bytes(voucher_id[:5], "big")  # 40 bits -> exactly 8 characters
    chars = "".join(CROCKFORD[(n >> shift) & 31] for shift in range(35, -1, -5))
    return f"{chars[:4]}-{chars[4:]}"


def kid_of(public_key: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key: hex of the first 8 bytes of SHA-256."""
    return hashlib.sha256(public_key).digest()[:8].hex()


@dataclass(frozen=True)
class TrustKey:
    """One key of the trust list."""

    kid: str
    public_key: bytes
    status: str
    use: str


@dataclass(frozen=True)
class TrustList:
    """The scheme's published keys, as this terminal last received them.

    :meth:`from_json` keeps only well-formed Ed25519 keys whose ``kid`` matches their
    public key, as the specification requires; unknown fields are ignored.
    """

    keys: tuple[TrustKey, ...] = ()
    _verifiers: dict[str, Ed25519PublicKey] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, document: Any) -> TrustList:
        """Build a trust list from the decoded JSON of ``GET /api/v1/trust-list``."""
        keys: list[TrustKey] = []
        entries = document.get("keys") if isinstance(document, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            key = _trust_key(entry)
            if key is not None:
                keys.append(key)
        return cls(tuple(keys))

    @classmethod
    def from_text(cls, text: str) -> TrustList:
        """Build a trust list from the JSON text of ``GET /api/v1/trust-list``."""
        return cls.from_json(json.loads(text))

    def voucher_key(self, kid: str) -> TrustKey | None:
        """The key that may verify vouchers under ``kid``: use ``voucher``, not revoked."""
        for key in self.keys:
            if key.kid == kid and key.use == "voucher" and key.status in VERIFYING_STATUSES:
                return key
        return None

    def verifier(self, key: TrustKey) -> Ed25519PublicKey:
        """The (cached) cryptography object for ``key``."""
        found = self._verifiers.get(key.kid)
        if found is None:
            found = Ed25519PublicKey.from_public_bytes(key.public_key)
            self._verifiers[key.kid] = found
        return found


def _trust_key(entry: Any) -> TrustKey | None:
    if not isinstance(entry, dict) or entry.get("alg") != "Ed25519":
        return None
    kid, encoded, status = entry.get("kid"), entry.get("public_key"), entry.get("status")
    # Contract v1's trust list has no `use`; a key without one is a voucher key.
    use = entry.get("use", "voucher")
    if not (
        isinstance(kid, str)
        and isinstance(encoded, str)
        and isinstance(status, str)
        and isinstance(use, str)
    ):
        return None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 32 or kid_of(raw) != kid:
        return None  # the specification: ignore a key whose kid does not match
    return TrustKey(kid=kid, public_key=raw, status=status, use=use)


def parse(code: str) -> tuple[bytes, bytes]:
    """Steps 1–2: check the text and decode it; return ``(payload, signature)``.

    Raises :class:`VoucherRefused` ``malformed_code``.
    """
    if not isinstance(code, str) or len(code) > MAX_CODE_CHARS or not code.startswith(PREFIX):
        raise VoucherRefused("malformed_code", "not a CC1 voucher code")
    try:
        raw = base45.decode(code[len(PREFIX) :])
    except base45.Base45Error as exc:
        raise VoucherRefused("malformed_code", str(exc)) from None
    if len(raw) != CODE_BYTES:
        raise VoucherRefused("malformed_code", f"{len(raw)} bytes, not {CODE_BYTES}")
    if raw[0] != VERSION:
        raise VoucherRefused("malformed_code", f"version {raw[0]}, not {VERSION}")
    return raw[:PAYLOAD_BYTES], raw[PAYLOAD_BYTES:]


def read_unverified(code: str) -> Voucher | None:
    """The fields of a well-formed code *without* checking its signature, or None.

    For the journal only (which voucher a refused scan claimed to be); never for a decision.
    """
    try:
        payload, _ = parse(code)
    except VoucherRefused:
        return None
    return _fields(payload)


def _fields(payload: bytes) -> Voucher:
    return Voucher(
        voucher_id=payload[11:27].hex(),
        face_value=int.from_bytes(payload[27:31], "big"),
        expires_at=int.from_bytes(payload[31:35], "big"),
        kid=payload[1:9].hex(),
        scheme_id=int.from_bytes(payload[9:11], "big"),
    )


def verify(code: str, trust_list: TrustList, now: float) -> Voucher:
    """Verify ``code`` at time ``now`` (seconds since the epoch) against ``trust_list``.

    Returns the :class:`Voucher` if the code is genuine and unexpired; otherwise raises
    :class:`VoucherRefused` with the code of the first failing step of the specification.
    """
    payload, signature = parse(code)
    fields = _fields(payload)
    key = trust_list.voucher_key(fields.kid)
    if key is None:
        raise VoucherRefused("unknown_key", f"no voucher key {fields.kid} that still verifies")
    try:
        trust_list.verifier(key).verify(signature, DOMAIN_TAG + payload)
    except InvalidSignature:
        raise VoucherRefused("invalid_signature", "the signature does not verify") from None
    if not MIN_FACE_VALUE <= fields.face_value <= MAX_FACE_VALUE:
        raise VoucherRefused("malformed_code", f"face value {fields.face_value} out of range")
    if not now < fields.expires_at:
        raise VoucherRefused("expired", f"expired at {fields.expires_at_utc.isoformat()}")
    return fields
