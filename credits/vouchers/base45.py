"""Base45 (RFC 9285), exactly: the text encoding of voucher codes.

Every character is in the QR alphanumeric set, so a QR code holding Base45 text uses
alphanumeric mode (5.5 bits a character) and is smaller than the same bytes in base64.
Written here rather than taken from PyPI: it is thirty lines, and the decoder must be
strict (RFC 9285 section 4.4: a group whose value does not fit its bytes is an error), which
not every library is.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


class Base45Error(ValueError):
    """The text is not valid Base45."""


def encoded_length(n_bytes: int) -> int:
    """How many characters ``n_bytes`` bytes encode to."""
    return (n_bytes // 2) * 3 + (n_bytes % 2) * 2


def b45encode(data: bytes) -> str:
    """Encode bytes as Base45 text (RFC 9285 section 4)."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        d, e = n % 45, n // 45
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        n = data[-1]
        out += (ALPHABET[n % 45], ALPHABET[n // 45])
    return "".join(out)


#: str.translate table: an alphabet character -> its value (0-44) as one byte; anything
#: else -> 0xFF. Decoding through it runs the per-character work in C (a verifier at a busy
#: counter, or the benchmark's 5,000 codes a second, spends its time in Ed25519 instead).
_TRANSLATE = bytes(_VALUE.get(chr(i), 0xFF) for i in range(256))


def b45decode(text: str) -> bytes:
    """Decode Base45 text; :class:`Base45Error` on any character outside the alphabet, a
    length of 1 (mod 3), or a group whose value does not fit its bytes."""
    if len(text) % 3 == 1:
        raise Base45Error(f"a Base45 text cannot be {len(text)} characters long")
    if not text.isascii():
        raise Base45Error("Base45 text is ASCII")
    values = text.encode("ascii").translate(_TRANSLATE)
    if 0xFF in values:
        bad = text[values.index(0xFF)]
        raise Base45Error(f"{bad!r} is not a Base45 character")
    out = bytearray()
    full = len(values) - len(values) % 3
    for i in range(0, full, 3):
        n = values[i] + values[i + 1] * 45 + values[i + 2] * 2025
        if n > 0xFFFF:
            raise Base45Error(f"the group at {i} is {n}, more than two bytes hold")
        out += n.to_bytes(2, "big")
    if len(values) % 3 == 2:
        n = values[-2] + values[-1] * 45
        if n > 0xFF:
            raise Base45Error(f"the final group is {n}, more than one byte holds")
        out.append(n)
    return bytes(out)
