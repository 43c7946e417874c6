"""The voucher code, version 1 (``CC1:``): docs/voucher-format.md, implemented exactly.

    code = "CC1:" + base45(payload || signature)
    payload (35 bytes) = version(1) key_id(8) scheme_id(2) voucher_id(16) face_value(4)
                         expires_at(4)           -- unsigned big-endian
    signature (64 bytes) = Ed25519 over DOMAIN_TAG || payload

:func:`sign_code` makes one; :func:`verify_code` applies the document's six verification
steps in order and raises the first failure's error. Nothing here touches the database or
the clock (``now`` is passed in), so the same functions serve the API, the shop terminal's
tests and the benchmark.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credits.vouchers.base45 import Base45Error, b45decode, b45encode, encoded_length
from credits.vouchers.errors import InvalidSignature, MalformedCode, UnknownKey, VoucherExpired

PREFIX = "CC1:"
VERSION = 1
DOMAIN_TAG = b"cooperative-credits/voucher/v1\x00"
MAX_CODE_CHARS = 200
MIN_FACE_VALUE = 1
MAX_FACE_VALUE = 1_000_000
MAX_SCHEME_ID = 0xFFFF
MAX_EXPIRES_AT = 0xFFFF_FFFF

_PAYLOAD = struct.Struct(">B8sH16sII")
PAYLOAD_BYTES = _PAYLOAD.size  # 35
SIGNATURE_BYTES = 64
CODE_BYTES = PAYLOAD_BYTES + SIGNATURE_BYTES  # 99
CODE_CHARS = len(PREFIX) + encoded_length(CODE_BYTES)  # 153

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: Key statuses in the trust list. Only these two verify vouchers.
VERIFYING_STATUSES = frozenset({"active", "retired"})


def key_id(public_key: Ed25519PublicKey) -> bytes:
    """The 8-byte key id: the first 8 bytes of SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8]


def kid_hex(public_key: Ed25519PublicKey) -> str:
    """The key id as the trust list writes it (lower-case hex, 16 characters)."""
    return key_id(public_key).hex()


def reference(voucher_id: bytes) -> str:
    """The reference read out when a camera fails: the first 5 bytes of the voucher id in
    Crockford Base32, as ``XXXX-XXXX``. Proves nothing by itself."""
    n = int.from_bytes(voucher_id[:5], "big")
    chars = "".join(CROCKFORD[(n >> shift) & 31] for shift in range(35, -1, -5))
    return f"{chars[:4]}-{chars[4:]}"


@dataclass(frozen=True, slots=True)
class VoucherClaims:
    """What a code says: the signed payload's fields."""

    kid: str  # lower-case hex of key_id
    scheme_id: int
    voucher_id: bytes  # 16 bytes
    face_value: int
    expires_at: int  # seconds since the epoch; valid while now < expires_at

    @property
    def voucher_id_hex(self) -> str:
        return self.voucher_id.hex()

    @property
    def expires_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)

    @property
    def reference(self) -> str:
        return reference(self.voucher_id)


def payload_bytes(
    *, key: bytes, scheme_id: int, voucher_id: bytes, face_value: int, expires_at: int
) -> bytes:
    """The 35 signed bytes. Refuses values that do not fit their fields (a programming
    error: the use cases check amounts and times before they get here)."""
    if len(key) != 8 or len(voucher_id) != 16:
        raise ValueError("key_id is 8 bytes and voucher_id 16")
    if type(face_value) is not int or not MIN_FACE_VALUE <= face_value <= MAX_FACE_VALUE:
        raise ValueError(f"face value {face_value!r} is outside 1..{MAX_FACE_VALUE}")
    if not 0 <= scheme_id <= MAX_SCHEME_ID or not 0 < expires_at <= MAX_EXPIRES_AT:
        raise ValueError("scheme_id or expires_at out of range")
    return _PAYLOAD.pack(VERSION, key, scheme_id, voucher_id, face_value, expires_at)


def sign_code(
    private_key: Ed25519PrivateKey,
    *,
    scheme_id: int,
    voucher_id: bytes,
    face_value: int,
    expires_at: int,
) -> str:
    """The code for a voucher, signed with ``private_key``. Ed25519 is deterministic, so the
    same voucher and key always give the same code (a replay returns the same text)."""
    payload = payload_bytes(
        key=key_id(private_key.public_key()),
        scheme_id=scheme_id,
        voucher_id=voucher_id,
        face_value=face_value,
        expires_at=expires_at,
    )
    signature = private_key.sign(DOMAIN_TAG + payload)
    return PREFIX + b45encode(payload + signature)


#: A trust list as a verifier uses it: kid (hex) -> (public key, status). Only ``voucher``
#: keys belong in it.
TrustMap = Mapping[str, tuple[Ed25519PublicKey, str]]


def parse_code(code: object) -> tuple[VoucherClaims, bytes, bytes]:
    """Steps 1-2: (claims, payload, signature) of a well-formed code; :class:`MalformedCode`
    otherwise. Checks nothing about keys, signature, amount or time."""
    if not isinstance(code, str) or len(code) > MAX_CODE_CHARS or not code.startswith(PREFIX):
        raise MalformedCode("a voucher code is text of at most 200 characters starting CC1:")
    body = code[len(PREFIX) :]
    # The alphabet is checked by the decoder (any other character is a Base45Error).
    try:
        raw = b45decode(body)
    except Base45Error as exc:
        raise MalformedCode(f"the code is not valid Base45: {exc}") from None
    if len(raw) != CODE_BYTES or raw[0] != VERSION:
        raise MalformedCode("the code is incomplete, too long, or of an unknown version")
    payload, signature = raw[:PAYLOAD_BYTES], raw[PAYLOAD_BYTES:]
    _, kid, scheme_id, voucher_id, face_value, expires_at = _PAYLOAD.unpack(payload)
    claims = VoucherClaims(kid.hex(), scheme_id, voucher_id, face_value, expires_at)
    return claims, payload, signature


def verify_code(code: object, trust: TrustMap, *, now: int | float | datetime) -> VoucherClaims:
    """Verify a code offline, following docs/voucher-format.md step by step.

    Returns the claims of a genuine, unexpired code. Raises, at the first failing step:
    :class:`MalformedCode` (steps 1, 2, 5), :class:`UnknownKey` (3: unknown, revoked or not a
    voucher key), :class:`InvalidSignature` (4), :class:`VoucherExpired` (6). Whether the
    voucher was already spent is not something a code can tell.
    """
    claims, payload, signature = parse_code(code)
    entry = trust.get(claims.kid)
    if entry is None or entry[1] not in VERIFYING_STATUSES:
        raise UnknownKey(f"key {claims.kid} is not a key this scheme trusts for vouchers")
    try:
        entry[0].verify(signature, DOMAIN_TAG + payload)
    except _BadSignature:
        raise InvalidSignature("the signature does not match the voucher's contents") from None
    if not MIN_FACE_VALUE <= claims.face_value <= MAX_FACE_VALUE:
        raise MalformedCode(f"face value {claims.face_value} is out of range")
    now_s = now.timestamp() if isinstance(now, datetime) else now
    if not now_s < claims.expires_at:
        raise VoucherExpired(
            f"the voucher expired at {claims.expires_at_datetime.isoformat()}",
            expires_at=claims.expires_at_datetime.isoformat().replace("+00:00", "Z"),
        )
    return claims
