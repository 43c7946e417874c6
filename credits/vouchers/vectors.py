"""Generate docs/voucher-vectors.json: test vectors for any verifier of docs/voucher-format.md.

    python -m credits.vouchers.vectors > docs/voucher-vectors.json

Everything is derived from fixed 32-byte seeds written into the file (never used outside
tests), fixed voucher ids and fixed times, and Ed25519 is deterministic: the output is the
same on every run, and tests/unit/test_voucher_vectors.py checks the committed file against
it and verifies every vector with a verifier written from the document alone.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credits.vouchers.base45 import b45decode, b45encode
from credits.vouchers.code import DOMAIN_TAG, PREFIX, kid_hex, payload_bytes, reference
from credits.vouchers.keys import b64url


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"cooperative-credits test vectors: {label}".encode()).digest()


SEEDS = {
    "active": _seed("active key"),
    "retired": _seed("retired key"),
    "revoked": _seed("revoked key"),
    "unknown": _seed("unknown key"),
    "statement": _seed("statement key"),
}
#: The order of the Ed25519 base point (RFC 8032).
_L = 2**252 + 27742317777372353535851937790883648493
NOW = 1_790_000_000  # 2026-09-21T14:13:20Z
EXPIRES = NOW + 90 * 86400
SCHEME = 1


def _key(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEEDS[name])


def _entry(name: str, status: str, use: str = "voucher", kid: str | None = None) -> dict[str, str]:
    pub = _key(name).public_key()
    return {
        "kid": kid or kid_hex(pub),
        "alg": "Ed25519",
        "public_key": b64url(pub.public_bytes(Encoding.Raw, PublicFormat.Raw)),
        "status": status,
        "use": use,
    }


TRUST = {
    "keys": [
        _entry("active", "active"),
        _entry("retired", "retired"),
        _entry("revoked", "revoked"),
        _entry("statement", "active", use="statement"),
    ]
}


def _vid(n: int) -> bytes:
    return hashlib.sha256(f"voucher {n}".encode()).digest()[:16]


def _raw(
    key: str = "active",
    *,
    vid: int = 1,
    face: int = 25,
    expires: int = EXPIRES,
    scheme: int = SCHEME,
    version: int = 1,
    signer: str | None = None,
) -> bytes:
    """payload || signature; ``signer`` signs a payload naming ``key`` (a forgery)."""
    k = _key(key)
    payload = bytearray(
        payload_bytes(
            key=bytes.fromhex(kid_hex(k.public_key())),
            scheme_id=scheme,
            voucher_id=_vid(vid),
            face_value=min(max(face, 1), 1_000_000),
            expires_at=expires,
        )
    )
    payload[0] = version
    if face == 0:
        payload[27:31] = (0).to_bytes(4, "big")
    if face > 1_000_000:
        payload[27:31] = face.to_bytes(4, "big")
    sig = _key(signer or key).sign(DOMAIN_TAG + bytes(payload))
    return bytes(payload) + sig


def _code(raw: bytes) -> str:
    return PREFIX + b45encode(raw)


def _ok(
    key: str = "active", vid: int = 1, face: int = 25, expires: int = EXPIRES
) -> dict[str, Any]:
    return {
        "ok": True,
        "voucher_id": _vid(vid).hex(),
        "reference": reference(_vid(vid)),
        "face_value": face,
        "expires_at": expires,
        "kid": kid_hex(_key(key).public_key()),
        "scheme_id": SCHEME,
    }


def _no(code: str) -> dict[str, Any]:
    return {"ok": False, "code": code}


def vectors() -> list[dict[str, Any]]:
    """Every vector: name, description, code, now, trust list (by default the shared one),
    expected outcome."""
    valid = _code(_raw())
    raw = _raw()
    out: list[tuple[str, str, str, int, dict[str, Any], dict[str, Any] | None]] = [
        ("valid", "a genuine voucher signed by the active key", valid, NOW, _ok(), None),
        (
            "valid-large",
            "the largest face value, one second before expiry",
            _code(_raw(vid=2, face=1_000_000)),
            EXPIRES - 1,
            _ok(vid=2, face=1_000_000),
            None,
        ),
        (
            "valid-retired-key",
            "signed by a retired key: still verifies until the voucher expires",
            _code(_raw("retired", vid=3, face=7)),
            NOW,
            _ok("retired", vid=3, face=7),
            None,
        ),
        ("expired", "now equals expires_at: expired", valid, EXPIRES, _no("expired"), None),
        (
            "expired-retired-key",
            "a retired key's voucher after its expiry",
            _code(_raw("retired", vid=3, face=7)),
            EXPIRES + 1,
            _no("expired"),
            None,
        ),
        (
            "tampered-face-value",
            "face value raised from 25 to 2500 after signing (signature kept)",
            _code(raw[:27] + (2500).to_bytes(4, "big") + raw[31:]),
            NOW,
            _no("invalid_signature"),
            None,
        ),
        (
            "tampered-expiry",
            "expires_at moved a year later after signing",
            _code(raw[:31] + (EXPIRES + 365 * 86400).to_bytes(4, "big") + raw[35:]),
            NOW,
            _no("invalid_signature"),
            None,
        ),
        (
            "tampered-signature",
            "one bit of the signature flipped",
            _code(raw[:-1] + bytes([raw[-1] ^ 1])),
            NOW,
            _no("invalid_signature"),
            None,
        ),
        (
            "non-canonical-signature",
            "the signature's S replaced by S + L (the same point equation): strict RFC 8032 "
            "verification refuses it, so a code has exactly one valid signature",
            _code(raw[:-32] + (int.from_bytes(raw[-32:], "little") + _L).to_bytes(32, "little")),
            NOW,
            _no("invalid_signature"),
            None,
        ),
        (
            "tampered-character",
            "one character of the text changed (still valid Base45)",
            valid[:60] + ("A" if valid[60] != "A" else "B") + valid[61:],
            NOW,
            _no("invalid_signature"),
            None,
        ),
        (
            "forged-by-other-key",
            "names the active key's kid but is signed by an unknown key",
            _code(_raw("active", signer="unknown")),
            NOW,
            _no("invalid_signature"),
            None,
        ),
        (
            "unknown-key",
            "signed by a key that is not in the trust list",
            _code(_raw("unknown")),
            NOW,
            _no("unknown_key"),
            None,
        ),
        (
            "revoked-key",
            "signed by a revoked key: verifies nothing, even before expiry",
            _code(_raw("revoked")),
            NOW,
            _no("unknown_key"),
            None,
        ),
        (
            "statement-key",
            "signed by an active key whose use is not voucher",
            _code(_raw("statement")),
            NOW,
            _no("unknown_key"),
            None,
        ),
        (
            "kid-mismatch",
            "the trust list entry's kid is not the hash of its public key: ignore it",
            valid,
            NOW,
            _no("unknown_key"),
            {
                "keys": [
                    {**_entry("unknown", "active"), "kid": kid_hex(_key("active").public_key())}
                ]
            },
        ),
        (
            "extra-fields-ignored",
            "trust list entries with fields a verifier does not know",
            valid,
            NOW,
            _ok(),
            {
                "keys": [
                    {
                        **_entry("active", "active"),
                        "valid_from": "2026-01-01T00:00:00Z",
                        "future_field": [1, 2],
                    }
                ]
            },
        ),
        (
            "truncated",
            "the last 3 characters cut off (97 bytes)",
            valid[:-3],
            NOW,
            _no("malformed_code"),
            None,
        ),
        (
            "truncated-one",
            "the last character cut off (length 1 mod 3)",
            valid[:-1],
            NOW,
            _no("malformed_code"),
            None,
        ),
        (
            "too-long",
            "two more Base45 characters (100 bytes)",
            valid + "00",
            NOW,
            _no("malformed_code"),
            None,
        ),
        (
            "over-200",
            "more than 200 characters",
            valid + "0" * 48,
            NOW,
            _no("malformed_code"),
            None,
        ),
        ("empty", "the empty string", "", NOW, _no("malformed_code"), None),
        ("prefix-only", "just the prefix", PREFIX, NOW, _no("malformed_code"), None),
        (
            "wrong-prefix",
            "CC2: instead of CC1:",
            "CC2:" + valid[4:],
            NOW,
            _no("malformed_code"),
            None,
        ),
        ("lower-case", "the code in lower case", valid.lower(), NOW, _no("malformed_code"), None),
        ("surrounding-space", "a trailing space", valid + " ", NOW, _no("malformed_code"), None),
        ("newline", "a trailing newline", valid + "\n", NOW, _no("malformed_code"), None),
        (
            "bad-base45-group",
            "a three-character group worth more than 65535",
            valid[:4] + ":::" + valid[7:],
            NOW,
            _no("malformed_code"),
            None,
        ),
        (
            "bad-base45-final",
            "a final two-character group worth more than 255",
            valid[:-2] + "::",
            NOW,
            _no("malformed_code"),
            None,
        ),
        (
            "bad-character",
            "a character outside the Base45 alphabet",
            valid[:20] + "#" + valid[21:],
            NOW,
            _no("malformed_code"),
            None,
        ),
        (
            "wrong-version",
            "a correctly signed code whose version byte is 2",
            _code(_raw(version=2)),
            NOW,
            _no("malformed_code"),
            None,
        ),
        (
            "zero-face-value",
            "a correctly signed code for 0 credits",
            _code(_raw(face=0)),
            NOW,
            _no("malformed_code"),
            None,
        ),
        (
            "face-value-too-large",
            "a correctly signed code for 1,000,001 credits",
            _code(_raw(face=1_000_001)),
            NOW,
            _no("malformed_code"),
            None,
        ),
    ]
    result = []
    for name, description, code, now, expected, trust in out:
        result.append(
            {
                "name": name,
                "description": description,
                "code": code,
                "now": now,
                "trust_list": trust or TRUST,
                "expected": expected,
            }
        )
    # Sanity: the valid code decodes to 99 bytes.
    assert len(b45decode(valid[4:])) == 99
    return result


def document() -> dict[str, Any]:
    """The whole vectors file."""
    return {
        "format": "CC1 voucher code test vectors (docs/voucher-format.md)",
        "note": "Test keys only: never trust them outside tests.",
        "seeds": {
            name: {"seed_hex": seed.hex(), "kid": kid_hex(_key(name).public_key())}
            for name, seed in SEEDS.items()
        },
        "vectors": vectors(),
    }


def render() -> str:
    return json.dumps(document(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
