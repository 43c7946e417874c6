"""`python -m credits.bench snapshots`: a month's statement and the dashboard's chart before
and after the months are closed with snapshots, on PostgreSQL.

Loads the dashboard bench's synthetic history (bulk SQL, triggers off) over ``--months``
London months ending now, then:

1. times the scheme statement of the month two before the current one, computed from the
   stored balances (no snapshots yet), and the dashboard's 12-month figures;
2. closes every ended month in order with the real close
   (:func:`credits.statements.close.close_month`: statement hash, ``closed_period``,
   ``month_close``, snapshot) — but without the reconciliation checks, because the
   synthetic entries carry no real hash chain and no vouchers, so the checks would refuse
   them; each close's time is printed;
3. times the same statement again (now opened from the previous month's snapshot) and the
   dashboard, and checks the statement's JSON bytes are identical.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from sqlalchemy import text

from credits import audit, dashboard
from credits.bench.common import machine, scratch_database
from credits.bench.dashboard import _load
from credits.db import Database, make_engine, utcnow
from credits.statements import build_statement, close, render

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench_snapshots"


def _median(fn: Any, runs: int) -> tuple[float, Any]:
    took, value = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        value = fn()
        took.append(time.perf_counter() - t0)
    return statistics.median(took), value


def main(argv: list[str]) -> None:
    """Load a history, then print statement and dashboard timings before and after closing."""
    parser = argparse.ArgumentParser(prog="python -m credits.bench snapshots")
    parser.add_argument("--url", default=DEFAULT_URL, help="database name must start credits_bench")
    parser.add_argument("--entries", type=int, default=1_200_000)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--shops", type=int, default=300)
    parser.add_argument("--months", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    db = Database(make_engine(scratch_database(args.url)))
    t0 = time.perf_counter()
    _load(db, args.members, args.shops, args.entries, args.months)
    with db.read() as s:
        postings = s.execute(text("SELECT count(*) FROM posting")).scalar_one()
    print(f"# statements bench — {machine()}")
    print(
        f"loaded {args.entries:,} entries / {postings:,} postings over {args.months} months "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    now = utcnow()
    months = dashboard.last_months(now, args.months)
    target = months[-3]

    def statement() -> bytes:
        with db.read() as s:
            return render.json_bytes(build_statement(s, target))

    def chart() -> Any:
        with db.read() as s:
            return dashboard.monthly_figures(s, now)

    before, before_bytes = _median(statement, args.runs)
    chart_before, figures_before = _median(chart, args.runs)
    print(f"statement {target} (no snapshots)      {before:7.2f} s (median of {args.runs})")
    print(f"dashboard monthly_figures (all open)   {chart_before:7.2f} s")

    # The synthetic journal has no hash chain or vouchers: skip the checks (see docstring).
    close.run_checks = lambda session, **kw: []  # type: ignore[assignment]
    actor = audit.Actor.system("bench")
    for m in months[:-1]:
        t1 = time.perf_counter()
        db.run(lambda s, m=m: close.close_month(s, actor, m, now=now))
        print(f"close {m} (statement hash + snapshot)   {time.perf_counter() - t1:7.2f} s")

    after, after_bytes = _median(statement, args.runs)
    chart_after, figures_after = _median(chart, args.runs)
    print(f"statement {target} (from the snapshot)  {after:7.2f} s")
    print(f"dashboard monthly_figures (closed)     {chart_after:7.2f} s")
    print(f"identical statement bytes: {before_bytes == after_bytes}")
    print(f"identical dashboard figures: {figures_before == figures_after}")
    with db.read() as s:
        rows = s.execute(text("SELECT count(*) FROM month_balance")).scalar_one()
    print(f"month_balance rows: {rows:,}")
