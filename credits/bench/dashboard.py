"""`python -m credits.bench dashboard`: how long the officer dashboard's queries take over a
large journal on PostgreSQL.

Loads a synthetic history straight into a scratch database (bulk SQL with triggers off:
this measures reading, not posting): ``--months`` months of entries spread evenly, half
``earn`` (issuance → a member) and half ``redeem`` (vouchers outstanding → a shop, change to
a member), so each entry has 2–3 postings. Then times each dashboard query and the whole
page's reads (median of ``--runs``), and prints the plan of the monthly query.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from sqlalchemy import text

from credits import audit, dashboard, ledger, shops
from credits.bench.common import machine, scratch_database
from credits.db import Database, make_engine, utcnow

LOAD = """
SET session_replication_role = replica;
INSERT INTO account (code, type, owner_ref, name, allow_negative, slots, created_at)
SELECT 'member:bench-' || g, 'member', NULL, 'bench member ' || g, false, 1, now()
FROM generate_series(1, :members) g;
INSERT INTO account_balance (account_id, slot, balance, allow_negative)
SELECT id, 0, 0, false FROM account WHERE code LIKE 'member:bench-%';
CREATE TEMP TABLE bench_member AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM account WHERE code LIKE 'member:bench-%';
CREATE TEMP TABLE bench_shop AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS n, ledger_account_id AS id FROM shop;
INSERT INTO journal_entry (id, kind, memo, actor, occurred_at, recorded_at, idempotency_key,
    request_hash, lane, lane_seq, content_hash, prev_hash, hash)
SELECT 1000000 + g, CASE WHEN g % 2 = 0 THEN 'earn' ELSE 'redeem' END, 'bench', 'bench',
    t.at, t.at, 'bench:' || g, repeat('0', 64), g % 8, 1000000 + g,
    repeat('0', 64), repeat('0', 64), repeat('0', 64)
FROM generate_series(1, :entries) g,
    LATERAL (SELECT :start + (g::float8 / :entries) * (:end - :start) AS at) t;
INSERT INTO posting (entry_id, account_id, amount)
SELECT 1000000 + g, :issuance, -10 FROM generate_series(2, :entries, 2) g
UNION ALL
SELECT 1000000 + g, m.id, 10 FROM generate_series(2, :entries, 2) g
  JOIN bench_member m ON m.n = g % :members
UNION ALL
SELECT 1000000 + g, :outstanding, -10 FROM generate_series(1, :entries, 2) g
UNION ALL
SELECT 1000000 + g, s.id, 8 FROM generate_series(1, :entries, 2) g
  JOIN bench_shop s ON s.n = g % :shops
UNION ALL
SELECT 1000000 + g, m.id, 2 FROM generate_series(1, :entries, 2) g
  JOIN bench_member m ON m.n = (g * 7) % :members;
SET session_replication_role = origin;
"""


def _load(db: Database, members: int, shop_count: int, entries: int, months: int) -> None:
    db.run(lambda s: ledger.bootstrap(s))
    by = audit.Actor.system("bench")
    db.run(lambda s: [shops.create_shop(s, by, name=f"Bench shop {i}") for i in range(shop_count)])
    now = utcnow()
    start = dashboard.last_months(now, months)[0].starts_at

    def load(s: Any) -> None:
        params = {
            "members": members,
            "shops": shop_count,
            "entries": entries,
            "start": start,
            "end": now,
            "issuance": ledger.scheme_account(s, ledger.ISSUANCE).id,
            "outstanding": ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id,
        }
        for statement in LOAD.split(";\n"):
            if statement.strip():
                s.execute(text(statement), params)

    db.run(load)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def _time(fn: Any, runs: int) -> float:
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        took.append(time.perf_counter() - t0)
    return statistics.median(took)


def main(argv: list[str]) -> None:
    """Load a history and print the dashboard's timings."""
    parser = argparse.ArgumentParser(prog="python -m credits.bench dashboard")
    parser.add_argument("--url", help="a PostgreSQL URL whose database name starts credits_bench")
    parser.add_argument("--entries", type=int, default=400_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--shops", type=int, default=100)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    url = scratch_database(args.url)
    db = Database(make_engine(url))
    t0 = time.perf_counter()
    _load(db, args.members, args.shops, args.entries, args.months)
    with db.read() as s:
        postings = s.execute(text("SELECT count(*) FROM posting")).scalar_one()
    print(f"# dashboard bench — {machine()}")
    print(
        f"loaded {args.entries:,} entries / {postings:,} postings over {args.months} months "
        f"({args.members:,} members, {args.shops} shops) in {time.perf_counter() - t0:.1f} s"
    )
    month = ledger.Month.containing(utcnow())
    with db.read() as s:
        for name, fn in (
            ("monthly_figures (12 months)", lambda: dashboard.monthly_figures(s)),
            ("issued_by_activity (this month)", lambda: dashboard.issued_by_activity(s, month)),
            ("redeemed_by_shop (this month)", lambda: dashboard.redeemed_by_shop(s, month)),
            ("expiring_vouchers", lambda: dashboard.expiring_vouchers(s)),
            ("exceptions_queue", lambda: dashboard.exceptions_queue(s, limit=10)),
            ("officer_actions", lambda: dashboard.officer_actions(s)),
            ("the whole dashboard", lambda: dashboard.build(s)),
        ):
            print(f"{name:34s} {_time(fn, args.runs) * 1000:9.1f} ms (median of {args.runs})")
        first = dashboard.last_months(utcnow())[0]
        plan = s.execute(
            text(
                "EXPLAIN SELECT count(*) FROM journal_entry je JOIN posting p "
                "ON p.entry_id = je.id WHERE je.occurred_at >= :start"
            ),
            {"start": first.starts_at},
        ).all()
        print("plan of the monthly query's scan:")
        for row in plan:
            print("   ", row[0])
