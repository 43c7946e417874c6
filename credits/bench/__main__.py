"""Dispatch `python -m credits.bench <name>`."""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "ledger": "credits.bench.ledger",
    "vouchers": "credits.bench.vouchers",
    "earning": "credits.bench.earning",
    "redeem": "credits.bench.redeem",
    "statements": "credits.bench.statements",
    "dashboard": "credits.bench.dashboard",
    "snapshots": "credits.bench.snapshots",
    "backup": "credits.bench.backup",
    "settlement": "credits.bench.settlement",
    "open": "credits.bench.open",
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHES:
        print(
            f"usage: python -m credits.bench {{{','.join(BENCHES)}}} [options]  (--help for each)"
        )
        sys.exit(2)
    name = sys.argv[1]
    importlib.import_module(BENCHES[name]).main(sys.argv[2:])


if __name__ == "__main__":
    main()
