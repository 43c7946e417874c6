"""`python -m credits.bench settlement`: a settlement run for every shop over a borough's
history, and a 10,000-line bank statement reconciled — each beside a baseline measured in
the same run.

1. The history of ``python -m credits.bench statements`` (``--borough``: 50,000 members,
   300 shops, 12 months at 1,000,000 postings a month; ``--reuse`` keeps one already made
   with the same parameters), every month closed in order with its snapshot (the real
   close, without its checks: credits.bench.statements.close_months explains why).
2. Two officers; each shop's bank details entered by one and approved by the other (the
   real use cases; valid sort codes and account numbers found with the modulus check).
3. **The run**: the first settlement run of the last month — every shop's credits of all 12
   months, never settled before — computed (``create_run``) and approved (``approve_run``:
   one entry per shop), each timed; beside it the **baseline**: the same month's scheme
   statement (``build_statement``), which reads the month's shop movements too. Also the
   run's computation alone from the snapshots and from the postings (snapshots ignored).
4. **The bank**: a camt.053 statement of ``--lines`` transactions (default 10,000): the
   run's payments (a few short, a few missing), some unexpected payments out, and money in;
   reconciled by ``import_statement``, timed, beside the **baseline** of reading the file
   alone (credits.settlement.bankfile); then the same statement as CSV (rolled back).
5. The two verify checks settlement adds, timed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from credits.accounts import Principal, Role, create_person
from credits.bench.bankfiles import Tx, camt053, csv_statement
from credits.bench.common import machine
from credits.bench.statements import (
    Params,
    _last_full_month,
    _load,
    close_months,
    generate,
    history_months,
    stored_params,
)
from credits.db import Database, UTCDateTime, make_engine, upgrade_to_head, utcnow
from credits.ledger import Month, closed_months
from credits.settlement import bankdetails, bankfile, checks, payees, reconciliation, runs
from credits.settlement import unsettled as unsettled_module
from credits.statements import build_statement, rate_for, snapshots

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench_settlement"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _median(fn: Callable[[], Any], runs_: int) -> tuple[float, list[float]]:
    times = [_timed(fn)[0] for _ in range(runs_)]
    return statistics.median(times), times


def valid_accounts(n: int, sort_code: str = "089999") -> list[str]:
    """``n`` account numbers that pass the modulus check with ``sort_code``."""
    out: list[str] = []
    candidate = 10_000_000
    while len(out) < n:
        candidate += 1
        number = f"{candidate:08d}"
        if bankdetails.modulus_ok(sort_code, number):
            out.append(number)
    return out


def _officers(db: Database) -> tuple[Principal, Principal]:
    def make(s: Any) -> tuple[Principal, Principal]:
        out = []
        for n in (1, 2):
            email = f"settler{n}@bench.example"
            found = s.execute(text("SELECT id FROM person WHERE email = :e"), {"e": email}).scalar()
            if found is None:
                found = create_person(
                    s, name=f"Settling Officer {n}", email=email, roles=(Role.OFFICER,),
                    granted_by="bench",
                ).id  # fmt: skip
            out.append(Principal(role=Role.OFFICER, name=f"o{n}", person_id=int(found), via="b"))
        return out[0], out[1]

    return db.run(make)


def _payees(db: Database, first: Principal, second: Principal) -> int:
    with db.read() as s:
        shops = [int(i) for i in s.execute(text("SELECT id FROM shop ORDER BY id")).scalars()]
        have = set(payees.active_payees(s))
    todo = [sid for sid in shops if sid not in have]
    for sid, account in zip(todo, valid_accounts(len(todo)), strict=True):

        def both(s: Any, sid: int = sid, account: str = account) -> None:
            view = payees.request_change(
                s, first, sid, legal_name=f"Shop {sid} Ltd", sort_code="089999",
                account_number=account, reason="bench",
            )  # fmt: skip
            payees.approve_change(s, second, view.id)

        db.run(both)
    return len(todo)


def _statement_file(run: runs.RunView, lines: int) -> list[Tx]:
    """The bank's side of ``run``: most payments exact, 3 short, 3 missing; 200 unexpected
    payments out; the rest money in."""
    assert run.execution_date is not None
    day = run.execution_date + timedelta(days=2)
    txs: list[Tx] = []
    for n, line in enumerate(run.payable):
        if n < 3:
            continue  # missing
        pence = line.amount_pence - (1 if n < 6 else 0)  # three a penny short
        txs.append(Tx(day, -pence, f"{line.reference} COOPERATIVE CREDITS", f"Shop {line.shop_id}",
                      bank_ref=f"P-{n}"))  # fmt: skip
    for n in range(200):
        txs.append(Tx(day, -(1000 + n), f"SUPPLIER INVOICE {n}", "Supplier", bank_ref=f"U-{n}"))
    n = 0
    while len(txs) < lines:
        txs.append(Tx(day, 5000 + n, f"FUNDING {n}", "Council", bank_ref=f"F-{n}"))
        n += 1
    return txs


def main(argv: list[str]) -> None:
    """Generate (or reuse) a history, then time a run and a bank statement (docstring)."""
    parser = argparse.ArgumentParser(prog="python -m credits.bench settlement")
    parser.add_argument("--url", default=DEFAULT_URL, help="scratch database (*bench*)")
    parser.add_argument("--borough", action="store_true", help="the issue's size (see docstring)")
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--shops", type=int, default=300)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--postings-per-month", type=int, default=100_000)
    parser.add_argument("--last-month", default=None, help="YYYY-MM (default: last month)")
    parser.add_argument("--reuse", action="store_true", help="keep a generated history")
    parser.add_argument("--lines", type=int, default=10_000, help="bank statement lines")
    parser.add_argument("--runs", type=int, default=3, help="baseline and compute runs (median)")
    args = parser.parse_args(argv)
    if args.borough:
        args.members, args.shops, args.months, args.postings_per_month = (
            50_000, 300, 12, 1_000_000,
        )  # fmt: skip
    params = Params(
        members=args.members,
        shops=args.shops,
        months=args.months,
        postings_per_month=args.postings_per_month,
        last_month=args.last_month or _last_full_month(),
    )
    print(f"# settlement benchmark — {machine()}, load {_load()}")
    print(f"parameters: {params.key()}")
    if args.reuse and stored_params(args.url) == params.key():
        print("reusing the history already in the database")
        upgrade_to_head(make_engine(args.url))
    else:
        took, _ = _timed(lambda: generate(args.url, params, progress=lambda m: None))
        print(f"generated the history in {took:.0f} s")
    db = Database(make_engine(args.url))
    months = history_months(params)
    with db.read() as s:
        done = set(closed_months(s))
        counts = s.execute(
            text("SELECT (SELECT count(*) FROM posting), (SELECT count(*) FROM shop)")
        ).one()
    todo = [m for m in months if m not in done]
    if todo:
        closes = close_months(args.url, todo)
        print(f"closed {len(closes)} months in {sum(t for _, t in closes):.0f} s")
    print(f"history: {counts[0]:,} postings, {counts[1]} shops, months {months[0]} … {months[-1]}")
    with db.read() as s:
        rated = rate_for(s, Month.parse(months[0])) is not None
    if not rated:
        # The synthetic history has no rate; 50p a credit from its first month (written
        # directly: set-rate refuses a closed month, and these months may be closed already).
        db.run(
            lambda s: s.execute(
                text(
                    "INSERT INTO reimbursement_rate (effective_from, pence_per_credit, set_at, "
                    "set_by) VALUES (:m, 50, :t, 'bench')"
                ).bindparams(bindparam("t", type_=UTCDateTime())),
                {"m": months[0], "t": utcnow()},
            )
        )
    first, second = _officers(db)
    took, made = _timed(lambda: _payees(db, first, second))
    print(f"bank details for {made} shops (two officers each): {took:.1f} s")
    month = Month.parse(params.last_month)
    with db.read() as s:
        existing = s.execute(
            text("SELECT id FROM settlement_run WHERE live_month = :m"), {"m": str(month)}
        ).scalar()
    if existing is not None:
        raise SystemExit(f"{month} is already settled (run {existing}): regenerate without --reuse")

    print(f"\n## a settlement run for {month} over {len(months)} months (load {_load()})")
    print("| what | seconds |")
    print("|---|---:|")

    def statement() -> Any:
        with db.read() as s:
            return build_statement(s, month)

    base, _ = _median(statement, args.runs)
    print(f"| baseline: the scheme statement of {month} (median of {args.runs}) | {base:.2f} |")

    def computed() -> Any:
        with db.read() as s:
            return runs.compute(s, month)

    snap, _ = _median(computed, args.runs)
    print(f"| the run's figures, from the month-close snapshots | {snap:.2f} |")
    original = snapshots.has_snapshot
    unsettled_module.snapshots.has_snapshot = lambda session, m: False  # type: ignore[assignment]
    try:
        raw, _ = _timed(computed)
    finally:
        unsettled_module.snapshots.has_snapshot = original  # type: ignore[assignment]
    print(f"| the run's figures, from the postings (every shop posting of {len(months)} "
          f"months) | {raw:.2f} |")  # fmt: skip
    policy = runs.Policy(minimum_pence=1_000, four_eyes_pence=50_000)
    create_s, run = _timed(
        lambda: db.run(
            lambda s: runs.create_run(
                s, first, month=str(month), idempotency_key="bench", policy=policy
            )
        )
    )
    print(f"| **create_run** ({run.payments} payments, £{run.total_pence // 100:,}) "
          f"| **{create_s:.2f}** |")  # fmt: skip
    approve_s, (run, _) = _timed(lambda: db.run(lambda s: runs.approve_run(s, second, run.id)))
    print(f"| **approve_run** ({run.payments} settlement entries) | **{approve_s:.2f}** |")

    print(f"\n## reconciling a {args.lines:,}-line bank statement (load {_load()})")
    print("| what | seconds |")
    print("|---|---:|")
    txs = _statement_file(run, args.lines)
    camt = camt053(txs, statement_id="BENCH")
    parse_s, parsed = _timed(lambda: bankfile.parse(camt))
    print(f"| baseline: parsing the camt.053 file alone ({len(camt) / 1e6:.1f} MB) "
          f"| {parse_s:.2f} |")  # fmt: skip
    csv_data_first = csv_statement(
        [Tx(t.booked_on, t.pence, t.reference, t.name, f"C{t.bank_ref}") for t in txs]
    )

    def csv_rolled_back() -> Any:
        with db.engine.connect() as conn, conn.begin() as tx, Session(bind=conn) as s:
            result = reconciliation.import_statement(s, first, csv_data_first, filename="b.csv")
            tx.rollback()
        return result

    csv_s, _ = _timed(csv_rolled_back)
    import_s, result = _timed(
        lambda: db.run(
            lambda s: reconciliation.import_statement(s, first, camt, filename="bench.xml")
        )
    )
    summary = result.summary
    print(f"| **import_statement**, camt.053 ({summary['matched']} matched, "
          f"{summary['amount_differs']} differ, {summary['missing']} missing, "
          f"{summary['unexpected']} unexpected, {summary['ignored']} money in) "
          f"| **{import_s:.2f}** |")  # fmt: skip
    csv_data = csv_statement([Tx(t.booked_on, t.pence, t.reference, t.name, f"C{t.bank_ref}")
                              for t in txs])  # fmt: skip
    csv_parse_s, _ = _timed(lambda: bankfile.parse(csv_data))
    print(f"| baseline: parsing the same statement as CSV alone | {csv_parse_s:.2f} |")
    print(f"| **import_statement**, CSV (the same statement; rolled back) | **{csv_s:.2f}** |")
    assert len(parsed.transactions) == args.lines

    print(f"\n## the verify checks settlement adds (load {_load()})")
    print("| check | seconds | ok |")
    print("|---|---:|---|")
    for check in checks.SETTLEMENT_CHECKS:

        def one(check: Any = check) -> Any:
            with db.read() as s:
                return check(s)

        took, res = _timed(one)
        print(f"| {res.name} ({res.checked:,} checked) | {took:.2f} | {res.ok} |")
    db.engine.dispose()
