"""`python -m credits.bench vouchers`: voucher codes verified per second on one core, and QR
images rendered per second.

Runs in this one process (one core), with no database: what a shop terminal or the ledger's
redemption path spends on checking a code, and what the QR endpoints spend on an image.
Figures:

- ``verify``: full verification of distinct codes (steps 1-6 of docs/voucher-format.md).
  Target: ≥ 5,000/s on one core.
- ``parse``: steps 1-2 only (prefix, alphabet, Base45, layout) — the Python part.
- ``ed25519``: the signature check alone (OpenSSL through `cryptography`).
- ``sign``: making a code (what issuing a voucher or showing it again costs).
- ``png`` / ``svg``: a QR image of a code at level M, version and mask fixed (as served);
  ``png-search``: the same PNG letting qrcode search version and mask (``fit=True``).
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import statistics
import time
from collections.abc import Callable

import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from qrcode.constants import ERROR_CORRECT_M

from credits.bench.common import machine
from credits.vouchers import qr
from credits.vouchers.code import DOMAIN_TAG, kid_hex, parse_code, sign_code, verify_code


def _rate(fn: Callable[[int], object], n_items: int, seconds: float) -> float:
    """Calls of ``fn(i)`` per CPU-second of this process, over at least ``seconds`` of CPU
    time (whole passes of n_items).

    CPU time, not wall time: on a shared machine the wall clock also counts the time other
    processes held the core, while "per second on one core" means per second of one core's
    work. ``--wall`` measures wall time instead (equal on an idle machine).
    """
    clock = time.perf_counter if _WALL else time.process_time
    done = 0
    start = clock()
    while True:
        for i in range(n_items):
            fn(i)
        done += n_items
        elapsed = clock() - start
        if elapsed >= seconds:
            return done / elapsed


_WALL = False


def _search_png(code: str) -> bytes:
    image = qrcode.make(code, error_correction=ERROR_CORRECT_M, border=4, box_size=10)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def run_once(seconds: float, n_codes: int) -> dict[str, float]:
    key = Ed25519PrivateKey.generate()
    trust = {kid_hex(key.public_key()): (key.public_key(), "active")}
    expires = int(time.time()) + 90 * 86400
    codes = [
        sign_code(
            key,
            scheme_id=1,
            voucher_id=secrets.token_bytes(16),
            face_value=secrets.randbelow(1_000_000) + 1,
            expires_at=expires,
        )
        for _ in range(n_codes)
    ]
    parsed = [parse_code(c) for c in codes]
    now = time.time()
    public = key.public_key()
    few = codes[:50]
    return {
        "verify": _rate(lambda i: verify_code(codes[i], trust, now=now), n_codes, seconds),
        "parse": _rate(lambda i: parse_code(codes[i]), n_codes, seconds),
        "ed25519": _rate(
            lambda i: public.verify(parsed[i][2], DOMAIN_TAG + parsed[i][1]), n_codes, seconds
        ),
        "sign": _rate(
            lambda i: sign_code(
                key,
                scheme_id=1,
                voucher_id=parsed[i][0].voucher_id,
                face_value=parsed[i][0].face_value,
                expires_at=expires,
            ),
            n_codes,
            seconds,
        ),
        "png": _rate(lambda i: qr.png(few[i]), len(few), seconds),
        "svg": _rate(lambda i: qr.svg(few[i]), len(few), seconds),
        "png-search": _rate(lambda i: _search_png(few[i]), len(few), seconds),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m credits.bench vouchers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="per figure per run (2)")
    parser.add_argument("--runs", type=int, default=5, help="runs; the median is reported (5)")
    parser.add_argument("--codes", type=int, default=2000, help="distinct codes (2000)")
    parser.add_argument(
        "--wall", action="store_true", help="measure wall-clock time instead of CPU time"
    )
    args = parser.parse_args(argv)
    global _WALL
    _WALL = args.wall
    print(f"voucher benchmark — {machine()}")
    clock = "wall-clock" if args.wall else "CPU"
    print(
        f"one process (one core); per {clock} second; {args.runs} runs of "
        f"{args.seconds:.1f} s per figure; median; load average {os.getloadavg()[0]:.2f}"
    )
    runs = [run_once(args.seconds, args.codes) for _ in range(args.runs)]
    labels = {
        "verify": "codes verified (steps 1-6)",
        "parse": "  of which: parse (steps 1-2)",
        "ed25519": "  of which: Ed25519 verify",
        "sign": "codes signed",
        "png": "QR PNG, version+mask fixed",
        "svg": "QR SVG, version+mask fixed",
        "png-search": "QR PNG, qrcode fit=True search",
    }
    for name, label in labels.items():
        values = [r[name] for r in runs]
        each = ", ".join(f"{v:,.0f}" for v in values)
        median = statistics.median(values)
        print(f"  {label:34} {median:9,.0f} /s   ({1000 / median:6.3f} ms each; runs: {each})")
    verify = statistics.median(r["verify"] for r in runs)
    verdict = "meets" if verify >= 5000 else "MISSES"
    print(f"target ≥ 5,000 codes verified/s on one core: {verdict} ({verify:,.0f}/s)")
