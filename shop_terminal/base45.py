"""Base45 (RFC 9285), the text encoding of voucher codes.

Decoding is strict, as RFC 9285 and docs/voucher-format.md require: only the 45 alphabet
characters, a length that is not 1 (mod 3), and every group's value within the bytes it
stands for (< 65,536 for three characters, < 256 for two). Anything else is rejected, so
one code has exactly one byte string and vice versa.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


class Base45Error(ValueError):
    """The text is not valid Base45."""


def encode(data: bytes) -> str:
    """Encode bytes as Base45 text: 3 characters per 2 bytes, 2 for a final single byte."""
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


def decode(text: str) -> bytes:
    """Decode Base45 text; raise :class:`Base45Error` for anything RFC 9285 does not allow."""
    if len(text) % 3 == 1:
        raise Base45Error("length is 1 (mod 3)")
    out = bytearray()
    for i in range(0, len(text), 3):
        group = text[i : i + 3]
        try:
            values = [_VALUE[ch] for ch in group]
        except KeyError as exc:
            raise Base45Error(f"not a Base45 character: {exc.args[0]!r}") from None
        if len(values) == 3:
            n = values[0] + values[1] * 45 + values[2] * 45 * 45
            if n > 0xFFFF:
                raise Base45Error("a three-character group is over 65,535")
            out += n.to_bytes(2, "big")
        else:
            n = values[0] + values[1] * 45
            if n > 0xFF:
                raise Base45Error("a two-character group is over 255")
            out.append(n)
    return bytes(out)
