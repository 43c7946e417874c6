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


def b45decode(text: str) -> bytes:
    """Decode Base45 text; :class:`Base45Error` on any character outside the alphabet, a
    length of 1 (mod 3), or a group whose value does not fit its bytes."""
    if len(text) % 3 == 1:
        raise Base45Error(f"a Base45 text cannot be {len(text)} characters long")
    try:
        values = [_VALUE[ch] for ch in text]
    except KeyError as exc:
        raise Base45Error(f"{exc.args[0]!r} is not a Base45 character") from None
    out = bytearray()
    for i in range(0, len(values) - 2, 3):
        n = values[i] + values[i + 1] * 45 + values[i + 2] * 45 * 45
        if n > 0xFFFF:
            raise Base45Error(f"the group at {i} is {n}, more than two bytes hold")
        out += bytes((n >> 8, n & 0xFF))
    if len(values) % 3 == 2:
        n = values[-2] + values[-1] * 45
        if n > 0xFF:
            raise Base45Error(f"the final group is {n}, more than one byte holds")
        out.append(n)
    return bytes(out)
