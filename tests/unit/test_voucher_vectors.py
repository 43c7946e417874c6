"""docs/voucher-vectors.json, checked by a verifier written from docs/voucher-format.md alone.

Deliberately imports nothing from credits.vouchers: if the code and the document disagree,
this test and the project's own verifier cannot both pass. Only the standard library and
`cryptography` (for Ed25519) are used.
"""

import base64
import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "voucher-vectors.json"

B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TAG = b"cooperative-credits/voucher/v1" + b"\x00"


class Refused(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def b45decode(text):
    if len(text) % 3 == 1:
        raise Refused("malformed_code")
    out = bytearray()
    for i in range(0, len(text), 3):
        group = [B45.index(ch) for ch in text[i : i + 3]]
        n = sum(v * 45**k for k, v in enumerate(group))
        if len(group) == 3:
            if n >= 65536:
                raise Refused("malformed_code")
            out += bytes([n // 256, n % 256])
        else:
            if n >= 256:
                raise Refused("malformed_code")
            out.append(n)
    return bytes(out)


def trusted_keys(trust_list):
    keys = {}
    for k in trust_list["keys"]:
        if k.get("alg") != "Ed25519" or k.get("use", "voucher") != "voucher":
            continue
        raw = base64.urlsafe_b64decode(k["public_key"] + "=" * (-len(k["public_key"]) % 4))
        if len(raw) != 32 or hashlib.sha256(raw).digest()[:8].hex() != k["kid"]:
            continue  # a kid that does not match its key is ignored
        keys[k["kid"]] = (Ed25519PublicKey.from_public_bytes(raw), k["status"])
    return keys


def verify(code, trust_list, now):
    # 1. text, length, prefix, alphabet
    if not isinstance(code, str) or len(code) > 200 or not code.startswith("CC1:"):
        raise Refused("malformed_code")
    body = code[4:]
    if any(ch not in B45 for ch in body):
        raise Refused("malformed_code")
    # 2. Base45, 99 bytes, version 1
    raw = b45decode(body)
    if len(raw) != 99 or raw[0] != 1:
        raise Refused("malformed_code")
    payload, signature = raw[:35], raw[35:]
    _, key_id, scheme_id, voucher_id, face_value, expires_at = struct.unpack(">B8sH16sII", payload)
    # 3. a trusted voucher key, active or retired
    found = trusted_keys(trust_list).get(key_id.hex())
    if found is None or found[1] not in ("active", "retired"):
        raise Refused("unknown_key")
    # 4. the signature over tag || payload
    try:
        found[0].verify(signature, TAG + payload)
    except InvalidSignature:
        raise Refused("invalid_signature") from None
    # 5. face value
    if not 1 <= face_value <= 1_000_000:
        raise Refused("malformed_code")
    # 6. time
    if not now < expires_at:
        raise Refused("expired")
    n = int.from_bytes(voucher_id[:5], "big")
    ref = "".join(CROCKFORD[(n >> s) & 31] for s in range(35, -1, -5))
    return {
        "ok": True,
        "voucher_id": voucher_id.hex(),
        "reference": f"{ref[:4]}-{ref[4:]}",
        "face_value": face_value,
        "expires_at": expires_at,
        "kid": key_id.hex(),
        "scheme_id": scheme_id,
    }


DOC = json.loads(VECTORS.read_text())


def test_the_vectors_cover_every_outcome():
    outcomes = {v["expected"].get("code", "ok") for v in DOC["vectors"]}
    assert outcomes == {
        "ok",
        "malformed_code",
        "unknown_key",
        "invalid_signature",
        "expired",
    }


@pytest.mark.parametrize("vector", DOC["vectors"], ids=lambda v: v["name"])
def test_vector(vector):
    try:
        got = verify(vector["code"], vector["trust_list"], vector["now"])
    except Refused as exc:
        got = {"ok": False, "code": exc.code}
    assert got == vector["expected"]


def test_the_seeds_give_the_kids_in_the_file():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    for seed in DOC["seeds"].values():
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed["seed_hex"]))
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert hashlib.sha256(raw).digest()[:8].hex() == seed["kid"]
