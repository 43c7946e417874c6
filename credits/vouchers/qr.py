"""QR images of voucher codes: PNG and SVG, error correction M on screens, Q on paper.

A v1 code is always 153 characters of the QR alphanumeric set, so its symbol is always the
same size: version 6 at level M (41×41 modules), version 8 at level Q (49×49). Fixing the
version and the mask skips qrcode's search over eight masks (~14 ms → ~2 ms a symbol;
docs/benchmarks.md); a code that does not fit (never, for v1) falls back to the search.
Every image has the quiet zone the QR standard requires (4 modules) and is drawn with whole
pixels per module (PNG) or crisp edges (SVG), so a phone camera reads it at any size.
"""

from __future__ import annotations

import io
from typing import Literal

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M, ERROR_CORRECT_Q
from qrcode.exceptions import DataOverflowError

QUIET_ZONE_MODULES = 4
#: Pixels per module in a PNG: 49 modules × 10 = 490 px, crisp on a 3× phone screen.
PNG_BOX_PX = 10
Level = Literal["M", "Q"]
_LEVELS = {"M": (ERROR_CORRECT_M, 6), "Q": (ERROR_CORRECT_Q, 8)}
#: Any fixed mask reads equally well in practice; fixing it is what makes rendering fast.
FIXED_MASK = 2


def matrix(code: str, level: Level = "M") -> list[list[bool]]:
    """The QR modules of ``code`` including the 4-module quiet zone (True = dark)."""
    ec, version = _LEVELS[level]
    qr = qrcode.QRCode(
        version=version, error_correction=ec, border=QUIET_ZONE_MODULES, mask_pattern=FIXED_MASK
    )
    qr.add_data(code, optimize=0)
    try:
        qr.make(fit=False)
    except DataOverflowError:
        qr = qrcode.QRCode(error_correction=ec, border=QUIET_ZONE_MODULES)
        qr.add_data(code, optimize=0)
        qr.make(fit=True)
    return qr.get_matrix()


def png(code: str, level: Level = "M", box_px: int = PNG_BOX_PX) -> bytes:
    """A black-on-white PNG of ``code``: one bit per pixel, ``box_px`` pixels a module."""
    modules = matrix(code, level)
    n = len(modules)
    # Build the 1-bit image at one pixel per module, then scale by an integer factor with
    # nearest-neighbour: every module stays a sharp square (no anti-aliased edges).
    rows = bytes(0 if dark else 255 for row in modules for dark in row)
    small = Image.frombytes("L", (n, n), rows).convert("1")
    big = small.resize((n * box_px, n * box_px), Image.Resampling.NEAREST)
    out = io.BytesIO()
    # Fast zlib: a 1-bit QR compresses to ~1.4 KB anyway; level 6 costs 20 % more time.
    big.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def svg(code: str, level: Level = "M", *, title: str | None = None) -> str:
    """An SVG of ``code`` sized by its container (viewBox in modules, crisp edges)."""
    modules = matrix(code, level)
    n = len(modules)
    # One path: a run of dark modules on a row is one rectangle.
    parts = []
    for y, row in enumerate(modules):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    label = title or "Voucher QR code"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
        f'shape-rendering="crispEdges" role="img" aria-label="{_escape(label)}">'
        f"<title>{_escape(label)}</title>"
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(parts)}"/></svg>'
    )


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
