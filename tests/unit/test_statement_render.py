"""Pounds from pence, canonical JSON bytes, and the signature line's shape (no database)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credits.statements.render import canonical_json, pounds
from credits.statements.signing import StatementSignatureError, sign, verify
from credits.vouchers.keys import b64url


def test_pounds_are_integer_arithmetic():
    assert [pounds(p) for p in (0, 5, 99, 100, 1450, -1150, 123456789)] == [
        "0.00",
        "0.05",
        "0.99",
        "1.00",
        "14.50",
        "-11.50",
        "1234567.89",
    ]
    assert pounds(None) is None


def test_canonical_json_is_stable_bytes():
    a = canonical_json({"b": 1, "a": [1, {"d": "£", "c": None}]})
    b = canonical_json({"a": [1, {"c": None, "d": "£"}], "b": 1})
    assert a == b == b'{"a":[1,{"c":null,"d":"\\u00a3"}],"b":1}\n'


def test_a_signature_line_round_trips_and_rejects_malformed_lines(tmp_path):
    line = sign(tmp_path, b"statement bytes")
    kid = line.split(";")[0].removeprefix("kid=")
    pem = next((tmp_path / "statement-keys").glob("*.pem"))
    assert pem.stem == kid and (pem.stat().st_mode & 0o777) == 0o600
    from credits.statements.signing import trust_list_entries

    trust = {"statement_keys": trust_list_entries(tmp_path)}
    assert verify(b"statement bytes", line, trust) == kid
    assert sign(tmp_path, b"x").startswith(f"kid={kid}; sig=")  # the same key next time
    for bad in ("", "kid=zz; sig=abc", line + "extra", line.replace("; ", ";")):
        with pytest.raises(StatementSignatureError):
            verify(b"statement bytes", bad, trust)
    revoked = {"statement_keys": [{**trust["statement_keys"][0], "status": "revoked"}]}
    with pytest.raises(StatementSignatureError, match="revoked"):
        verify(b"statement bytes", line, revoked)
    with pytest.raises(StatementSignatureError, match="no statement_keys"):
        verify(b"statement bytes", line, {"keys": trust["statement_keys"]})
    other = Ed25519PrivateKey.generate()
    raw = other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    swapped = {"statement_keys": [{**trust["statement_keys"][0], "public_key": b64url(raw)}]}
    with pytest.raises(StatementSignatureError, match="does not match"):
        verify(b"statement bytes", line, swapped)
