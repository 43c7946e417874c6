"""Signed statements: a detached Ed25519 signature over the exact bytes of a statement file.

The statement key is its own key, never a voucher key: a shop terminal trusts every key in
the trust list's ``keys`` to sign vouchers, so the statement key is published apart, in the
trust list's ``statement_keys``. It lives in the instance folder like the voucher keys
(``<instance>/statement-keys/<kid>.pem``, mode 0600, created on first use by whichever
process gets there first) and never in the database.

A signature is one line of text, the same in the API's ``Statement-Signature`` header and in
the file `credits statement --signature FILE` writes::

    kid=<16 hex>; sig=<base64url of the 64-byte Ed25519 signature>

It signs the bytes exactly as served (the canonical JSON, or the CSV), nothing else, so
whoever holds the file, the signature and the trust list can prove what the council sent.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from credits.config import write_private_file
from credits.vouchers.code import kid_hex
from credits.vouchers.keys import b64url

FOLDER = "statement-keys"
HEADER = "Statement-Signature"
_SIG_RE = re.compile(r"^kid=([0-9a-f]{16}); sig=([A-Za-z0-9_-]{86})$")


class StatementSignatureError(Exception):
    """The signature does not prove the file: ``reason`` says why (for the command line)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StatementKey:
    kid: str
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _folder(instance_path: Path | str) -> Path:
    folder = Path(instance_path) / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def statement_key(instance_path: Path | str) -> StatementKey:
    """The statement signing key, created on first use (atomically: several workers may
    start at once and exactly one key wins)."""
    folder = _folder(instance_path)
    existing = sorted(folder.glob("*.pem"))
    if not existing:
        key = Ed25519PrivateKey.generate()
        kid = kid_hex(key.public_key())
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        write_private_file(folder / f"{kid}.pem", pem)
        existing = sorted(folder.glob("*.pem"))
    path = existing[0]
    private = load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    return StatementKey(kid=path.stem, private=private)


def trust_list_entries(instance_path: Path | str) -> list[dict[str, str]]:
    """The ``statement_keys`` of the trust list (public halves only)."""
    key = statement_key(instance_path)
    return [
        {"kid": key.kid, "alg": "Ed25519", "public_key": b64url(key.public_raw), "status": "active"}
    ]


def sign(instance_path: Path | str, data: bytes) -> str:
    """The signature line for ``data``."""
    key = statement_key(instance_path)
    sig = key.private.sign(data)
    return f"kid={key.kid}; sig={b64url(sig)}"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify(data: bytes, signature: str, trust_list: dict[str, Any]) -> str:
    """Check ``signature`` over ``data`` against the trust list's ``statement_keys``.

    Returns the kid that signed it; raises :class:`StatementSignatureError` when the line is
    malformed, the kid is not a statement key in the list (voucher keys never count), the
    key is revoked, or the signature does not match the bytes.
    """
    m = _SIG_RE.match(signature.strip())
    if m is None:
        raise StatementSignatureError("the signature is not 'kid=<16 hex>; sig=<base64url>'")
    kid, sig_text = m.groups()
    keys = trust_list.get("statement_keys")
    if not isinstance(keys, list):
        raise StatementSignatureError("the trust list has no statement_keys")
    found = next((k for k in keys if isinstance(k, dict) and k.get("kid") == kid), None)
    if found is None:
        raise StatementSignatureError(f"key {kid} is not a statement key in the trust list")
    if found.get("status") == "revoked" or found.get("alg") != "Ed25519":
        raise StatementSignatureError(f"key {kid} is revoked or not Ed25519")
    try:
        public = Ed25519PublicKey.from_public_bytes(_b64url_decode(str(found["public_key"])))
        public.verify(_b64url_decode(sig_text), data)
    except (InvalidSignature, ValueError, binascii.Error, KeyError):
        raise StatementSignatureError(
            f"the signature by key {kid} does not match these bytes"
        ) from None
    return kid
