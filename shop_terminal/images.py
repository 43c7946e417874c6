"""Reading a voucher's QR code from a picture (a photo or a screenshot), with zxing-cpp."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# A phone photo is ~12 MP; anything far bigger is not a voucher picture (and decompression
# bombs are refused before they use the memory).
MAX_PIXELS = 40_000_000
MAX_BYTES = 15 * 1024 * 1024


class ImageUnreadable(Exception):
    """The file is not a picture this terminal can read, or holds no QR code. ``reason`` says
    which: ``too_large_file``, ``too_many_pixels`` or ``not_a_picture``."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def read_codes(data: bytes | Path) -> list[str]:
    """The texts of every QR code in the picture, in the order zxing-cpp finds them.

    Raises :class:`ImageUnreadable` when the file is not a readable picture.
    """
    import zxingcpp

    raw = data.read_bytes() if isinstance(data, Path) else data
    if len(raw) > MAX_BYTES:
        raise ImageUnreadable("the picture is larger than 15 MB", "too_large_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(raw))
            if image.width * image.height > MAX_PIXELS:
                raise ImageUnreadable("the picture is too large", "too_many_pixels")
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise ImageUnreadable(
            "this file is not a picture the terminal can read", "not_a_picture"
        ) from exc
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")
    found = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    return [b.text for b in found if b.text]


def pick_voucher(codes: list[str]) -> str | None:
    """The first text that looks like a voucher code (``CC1:``), else the first text."""
    for text in codes:
        if text.startswith("CC1:"):
            return text
    return codes[0] if codes else None
