"""The code cannot be altered or forged: every one-character change and every truncation is
refused; unknown and revoked keys verify nothing; a retired key verifies until expiry."""

import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credits.errors import CreditsError
from credits.vouchers import vectors
from credits.vouchers.base45 import ALPHABET
from credits.vouchers.code import (
    CODE_CHARS,
    MAX_FACE_VALUE,
    kid_hex,
    parse_code,
    reference,
    sign_code,
    verify_code,
)
from credits.vouchers.errors import InvalidSignature, MalformedCode, UnknownKey, VoucherExpired

EXPIRES = 2_000_000_000
NOW = EXPIRES - 86_400
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TRUST = {kid_hex(KEY.public_key()): (KEY.public_key(), "active")}
VID = bytes.fromhex("00112233445566778899aabbccddeeff")


def code(key=KEY, **kw):
    fields = {"scheme_id": 1, "voucher_id": VID, "face_value": 25, "expires_at": EXPIRES}
    fields.update(kw)
    return sign_code(key, **fields)


def test_a_genuine_code_verifies_and_says_what_it_is():
    text = code()
    assert len(text) == CODE_CHARS == 153 and text.startswith("CC1:")
    assert set(text[4:]) <= set(ALPHABET)
    claims = verify_code(text, TRUST, now=NOW)
    assert (claims.voucher_id, claims.face_value, claims.expires_at, claims.scheme_id) == (
        VID,
        25,
        EXPIRES,
        1,
    )
    assert claims.kid == kid_hex(KEY.public_key())
    assert (
        claims.reference == reference(VID) == "008J-4CT4"
    )  # 00000 00000 01000 10010 | 00100 01100 11010 00100
    assert code() == text  # deterministic: a replay shows the same code


def test_the_code_carries_no_personal_data():
    # The 35 signed bytes are exactly the six fields: nothing else fits.
    _claims, payload, signature = parse_code(code())
    assert len(payload) == 35 and len(signature) == 64


def test_every_single_character_change_is_refused():
    text = code()
    candidates = [*ALPHABET, "a", "z", "#", "\n", "\t", "é", "\x00"]
    refused = 0
    for i in range(len(text)):
        for ch in candidates:
            if ch == text[i]:
                continue
            changed = text[:i] + ch + text[i + 1 :]
            with pytest.raises((MalformedCode, InvalidSignature, UnknownKey)):
                verify_code(changed, TRUST, now=NOW)
            refused += 1
    assert refused == len(text) * (len(candidates) - 1)


def test_every_truncation_and_every_deleted_or_added_character_is_refused():
    text = code()
    for n in range(len(text)):
        with pytest.raises(MalformedCode):
            verify_code(text[:n], TRUST, now=NOW)
        with pytest.raises(MalformedCode):
            verify_code(text[:n] + text[n + 1 :], TRUST, now=NOW)
    for ch in ALPHABET:
        with pytest.raises(MalformedCode):
            verify_code(text + ch, TRUST, now=NOW)


@pytest.mark.parametrize("junk", [None, 42, b"CC1:", "", "CC1:", " " + "CC1:" + "0" * 149])
def test_junk_is_malformed(junk):
    with pytest.raises(MalformedCode):
        verify_code(junk, TRUST, now=NOW)


def test_unknown_and_revoked_keys_verify_nothing():
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(UnknownKey):
        verify_code(code(stranger), TRUST, now=NOW)
    revoked = {kid_hex(KEY.public_key()): (KEY.public_key(), "revoked")}
    with pytest.raises(UnknownKey):
        verify_code(code(), revoked, now=NOW)
    # A key listed under the right kid but with another public key cannot verify it either.
    wrong = {kid_hex(KEY.public_key()): (stranger.public_key(), "active")}
    with pytest.raises(InvalidSignature):
        verify_code(code(), wrong, now=NOW)


def test_a_retired_key_verifies_until_its_vouchers_expire():
    retired = {kid_hex(KEY.public_key()): (KEY.public_key(), "retired")}
    assert verify_code(code(), retired, now=EXPIRES - 1).face_value == 25
    with pytest.raises(VoucherExpired):
        verify_code(code(), retired, now=EXPIRES)


def test_expiry_is_exclusive():
    verify_code(code(), TRUST, now=EXPIRES - 0.001)
    with pytest.raises(VoucherExpired) as exc:
        verify_code(code(), TRUST, now=EXPIRES)
    assert exc.value.code == "expired"


def test_refusals_are_credits_errors_with_contract_codes():
    for exc in (MalformedCode, UnknownKey, InvalidSignature, VoucherExpired):
        assert issubclass(exc, CreditsError)
    assert {MalformedCode.code, UnknownKey.code, InvalidSignature.code, VoucherExpired.code} == {
        "malformed_code",
        "unknown_key",
        "invalid_signature",
        "expired",
    }


def test_signing_refuses_values_the_format_cannot_carry():
    for bad in (0, -1, MAX_FACE_VALUE + 1, 2.5, True):
        with pytest.raises(ValueError):
            code(face_value=bad)
    with pytest.raises(ValueError):
        code(voucher_id=b"short")


def test_random_codes_verify():
    for _ in range(200):
        vid = secrets.token_bytes(16)
        face = secrets.randbelow(MAX_FACE_VALUE) + 1
        claims = verify_code(code(voucher_id=vid, face_value=face), TRUST, now=NOW)
        assert (claims.voucher_id, claims.face_value) == (vid, face)


def test_the_committed_vectors_are_what_the_generator_makes():
    committed = (Path(__file__).resolve().parents[2] / "docs" / "voucher-vectors.json").read_text()
    assert committed == vectors.render(), (
        "regenerate: python -m credits.vouchers.vectors > docs/voucher-vectors.json"
    )
