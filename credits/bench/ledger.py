"""`python -m credits.bench ledger`: entries posted per second with C concurrent workers.

Each worker is a separate process (as gunicorn workers are) with its own connection pool.
Scenarios:

- ``transfer`` (the issue's target): each worker moves credits back and forth between its own
  two member accounts — distinct accounts, so only the ledger's own shared rows (chain lanes)
  are contended.
- ``earn``: issuance → a member of the worker's own; every entry touches the issuance account
  (a hot, unfloored account spread over slot rows).
- ``redeem``: vouchers outstanding → a shop, with change back to a member: the shape of a
  redemption, with two hot accounts.

Paths: ``standalone`` posts with :func:`credits.ledger.post_standalone` (one round trip on
PostgreSQL); ``unit-of-work`` with ``db.run(post_entry)`` (BEGIN, statement, COMMIT).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from typing import Any

from credits import ledger
from credits.bench.common import machine, median_of, percentile, scratch_database
from credits.db import Database, make_engine

SCENARIOS = ("transfer", "earn", "redeem")


def _setup(url: str, workers: int, scenario: str, run: int, hot_slots: int) -> list[dict[str, int]]:
    db = Database(make_engine(url))
    db.run(lambda s: ledger.bootstrap(s, hot_slots=hot_slots))

    def create(s: Any) -> list[dict[str, int]]:
        out = []
        iss = ledger.scheme_account(s, ledger.ISSUANCE).id
        vo = ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id
        shop = ledger.open_account(
            s,
            code=f"shop:bench-{run}",
            type=ledger.AccountType.SHOP,
            name="bench shop",
            hot_slots=hot_slots,
        ).id
        for w in range(workers):
            a = ledger.open_account(
                s, code=f"member:bench-{run}-{w}-a", type=ledger.AccountType.MEMBER, name="a"
            ).id
            b = ledger.open_account(
                s, code=f"member:bench-{run}-{w}-b", type=ledger.AccountType.MEMBER, name="b"
            ).id
            ledger.post_entry(
                s,
                ledger.EntryRequest(
                    kind=ledger.EntryKind.EARN,
                    legs=(
                        ledger.Leg(iss, -2_000_000),
                        ledger.Leg(a, 1_000_000),
                        ledger.Leg(b, 1_000_000),
                    ),
                    memo="bench seed",
                    actor="bench",
                    idempotency_key=f"bench-seed-{run}-{w}",
                ),
            )
            if scenario == "redeem":
                ledger.post_entry(
                    s,
                    ledger.EntryRequest(
                        kind=ledger.EntryKind.VOUCHER_ISSUE,
                        legs=(ledger.Leg(a, -900_000), ledger.Leg(vo, 900_000)),
                        memo="bench vouchers",
                        actor="bench",
                        idempotency_key=f"bench-vo-{run}-{w}",
                    ),
                )
            out.append({"a": a, "b": b, "issuance": iss, "vouchers": vo, "shop": shop})
        return out

    accounts = db.run(create)
    db.engine.dispose()
    return accounts


def _worker(
    url: str,
    scenario: str,
    path: str,
    accounts: dict[str, int],
    count: int,
    run: int,
    w: int,
    start: Any,
    out: Any,
) -> None:
    db = Database(make_engine(url, pool_size=2))
    with db.read() as s:  # warm the connection before the clock starts
        ledger.balance(s, accounts["a"])
    a, b = accounts["a"], accounts["b"]
    latencies = []
    start.wait()
    for i in range(count):
        if scenario == "transfer":
            legs = ((a, -1), (b, 1)) if i % 2 == 0 else ((b, -1), (a, 1))
            kind = ledger.EntryKind.ADJUSTMENT
        elif scenario == "earn":
            legs = ((accounts["issuance"], -1), (a, 1))
            kind = ledger.EntryKind.EARN
        else:
            legs = ((accounts["vouchers"], -3), (accounts["shop"], 2), (a, 1))
            kind = ledger.EntryKind.REDEEM
        request = ledger.EntryRequest(
            kind=kind,
            legs=tuple(ledger.Leg(x, y) for x, y in legs),
            memo="bench",
            actor="bench",
            idempotency_key=f"bench-{run}-{w}-{i}",
        )
        t0 = time.perf_counter()
        if path == "standalone":
            ledger.post_standalone(db, request)
        else:
            db.run(lambda s, r=request: ledger.post_entry(s, r))
        latencies.append(time.perf_counter() - t0)
    out.put(latencies)
    db.engine.dispose()


def run_once(
    url: str, entries: int, workers: int, scenario: str, path: str, run: int, hot_slots: int
) -> dict[str, float]:
    accounts = _setup(url, workers, scenario, run, hot_slots)
    ctx = mp.get_context("fork")
    start = ctx.Barrier(workers + 1)
    out = ctx.Queue()
    per = entries // workers
    procs = [
        ctx.Process(
            target=_worker, args=(url, scenario, path, accounts[w], per, run, w, start, out)
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    latencies: list[float] = []
    for _ in procs:
        latencies.extend(out.get())
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    return {
        "entries_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m credits.bench ledger",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--entries", type=int, default=8000, help="entries per run (default 8000)")
    parser.add_argument(
        "--workers", type=int, default=8, help="concurrent worker processes (default 8)"
    )
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per scenario; the median is reported"
    )
    parser.add_argument(
        "--hot-slots",
        type=int,
        default=8,
        help="balance rows per unfloored account (default 8; 1 = a single hot row)",
    )
    parser.add_argument(
        "--path",
        choices=["standalone", "unit-of-work", "both"],
        default="both",
        help="post_standalone (one round trip) or post_entry in a unit of work",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="scratch database (default: postgresql://…/credits_bench, recreated)",
    )
    args = parser.parse_args(argv)
    url = scratch_database(args.database_url)
    print(f"ledger benchmark — {machine()}")
    print(
        f"database: {url.split('@')[-1]}; {args.entries} entries per run, {args.workers} workers, "
        f"{args.hot_slots} balance rows per hot account, median of {args.runs} runs"
    )
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    paths = ("standalone", "unit-of-work") if args.path == "both" else (args.path,)
    n = 0
    for path in paths:
        for scenario in scenarios:
            n += 1
            runs = [
                run_once(
                    url, args.entries, args.workers, scenario, path, n * 100 + r, args.hot_slots
                )
                for r in range(args.runs)
            ]
            m = median_of(runs)
            each = ", ".join(f"{r['entries_per_s']:.0f}" for r in runs)
            print(
                f"  {path:12} {scenario:9} {m['entries_per_s']:7.0f} entries/s   "
                f"p50 {m['p50_ms']:6.2f} ms   p99 {m['p99_ms']:6.2f} ms   (runs: {each})"
            )
