"""Reconciling the bank: matching a bank statement's payments to settled shops.

Each transaction of an imported statement (credits.settlement.bankfile) is looked at once —
a transaction already imported in an overlapping statement is recognised by its fingerprint
and skipped (``duplicate``):

- money **out** carrying a settlement payment reference (``CC<YYYYMM>R<run>S<shop>``, found
  in the end-to-end id, the remittance text or the narrative) of an approved run counts
  towards that payment; money **in** carrying one (a returned payment) counts against it;
- money out with no such reference, or a reference of no approved payment, or not in
  pounds, is **unexpected**; money in with no reference is **ignored** (not a payment).

A payment is **matched** when what the bank has shown against its reference (this file and
every earlier one) equals its amount, to the penny; otherwise its amount **differs**. A
payment of an approved run that the bank still has not shown at all, although its requested
execution date is on or before the last day the statement covers, is **missing**. A run is
marked **paid** only when every one of its payments is matched (and is no longer paid if a
later return makes one differ).

Every unexpected, differing and missing payment becomes an item of the officers' exceptions
queue (``bank_mismatch``); an officer resolves it with a reason (who, when, why). An item is
resolved by the import itself when a later statement settles it (the payment matched, or a
newer figure supersedes an old difference), saying so.

Each payment also counts in a London month's *paid* figure (credits.settlement.figures): the
month it was booked in, or, when that month was already closed at import, the month it was
imported in — so a closed month's statement never changes.

Importing the same file again (same SHA-256) returns the first import's result and writes
nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.errors import NotFound, ValidationFailed
from credits.ledger.periods import Month
from credits.paging import Page, paginate
from credits.settlement import bankfile
from credits.settlement.errors import MismatchResolved
from credits.settlement.models import (
    AMOUNT_DIFFERS,
    APPROVED,
    IGNORED,
    MATCHED,
    MISSING,
    PAID,
    PAYABLE,
    T_BANK_LINE,
    T_IMPORT,
    T_LINE,
    T_MISMATCH,
    T_RUN,
    UNEXPECTED,
    BankImport,
    BankMismatch,
)
from credits.settlement.remittance import pounds
from credits.shops.models import Shop

REFERENCE = re.compile(r"\bCC(\d{4})(\d{2})R(\d{1,9})S(\d{1,12})\b")
MAX_FILENAME_CHARS = 200
MAX_RESOLUTION_CHARS = 300
_CHUNK = 1_000
T_SHOP = Shop.__table__  # type: ignore[attr-defined]


def find_reference(text: str) -> str | None:
    """The settlement payment reference in a bank line's text, if any."""
    m = REFERENCE.search(text.upper())
    return None if m is None else m.group(0)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one import found."""

    id: int
    filename: str
    format: str
    imported_at: datetime
    imported_by: str
    covers_to: date | None
    lines: int
    summary: dict[str, Any]
    replayed: bool = False
    mismatches: tuple[MismatchView, ...] = field(default_factory=tuple)


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _result(session: Session, row: BankImport, *, replayed: bool = False) -> ImportResult:
    assert row.id is not None
    found = session.execute(
        _mismatch_query().where(T_MISMATCH.c.import_id == row.id).order_by(T_MISMATCH.c.id)
    )
    return ImportResult(
        id=row.id,
        filename=row.filename,
        format=row.format,
        imported_at=row.imported_at,
        imported_by=row.imported_by,
        covers_to=row.covers_to,
        lines=row.lines,
        summary=dict(row.summary),
        replayed=replayed,
        mismatches=tuple(_mismatch(m) for m in found),
    )


def _counted_month(booked_on: date, last_closed: Month | None, now: datetime) -> str:
    """The booking month, unless it is closed (closing a month closes those before it):
    then the month of the import."""
    month = Month(booked_on.year, booked_on.month)
    if last_closed is not None and month <= last_closed:
        return str(Month.containing(now))
    return str(month)


def import_statement(
    session: Session,
    who: Any,
    data: bytes,
    *,
    filename: str = "statement",
    fmt: str | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import a bank statement and reconcile it (see the module docstring). ``who`` is the
    officer (or an audit Actor for the command line). The file is refused whole —
    ``bank_file_invalid`` — if any line cannot be read."""
    now = now or utcnow()
    name = " ".join(str(filename).split())[:MAX_FILENAME_CHARS] or "statement"
    digest = hashlib.sha256(data).hexdigest()
    earlier = session.execute(
        select(BankImport).where(T_IMPORT.c.sha256 == digest)
    ).scalar_one_or_none()
    if earlier is not None:
        return _result(session, earlier, replayed=True)
    statement = bankfile.parse(data, fmt=fmt)
    try:
        return _reconcile(session, who, statement, name=name, digest=digest, now=now)
    except Exception as exc:
        if unique_violation(exc, "sha256") or unique_violation(exc, "fingerprint"):
            # The same file, or an overlapping one, imported at this very moment: run again
            # and find the other import's rows (a replay, or duplicates).
            raise RetryTransaction("bank statements imported concurrently") from exc
        raise


def _reconcile(
    session: Session,
    who: Any,
    statement: bankfile.BankStatement,
    *,
    name: str,
    digest: str,
    now: datetime,
) -> ImportResult:
    txs = list(statement.transactions)

    # Transactions already imported from an overlapping statement.
    known: set[str] = set()
    for chunk in _chunks([t.fingerprint for t in txs]):
        known |= set(
            session.execute(
                select(T_BANK_LINE.c.fingerprint).where(T_BANK_LINE.c.fingerprint.in_(chunk))
            ).scalars()
        )
    new = [t for t in txs if t.fingerprint not in known]

    # The settlement lines their references name (approved or paid runs only), locked in
    # reference order: two imports paying one line add to it one after the other.
    refs = {t: find_reference(t.text) for t in new}
    wanted = sorted({r for r in refs.values() if r})
    lines: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(wanted):
        for row in session.execute(
            select(
                T_LINE.c.id, T_LINE.c.reference, T_LINE.c.run_id, T_LINE.c.shop_id,
                T_LINE.c.amount_pence, T_LINE.c.paid_pence, T_LINE.c.paid_on,
                T_RUN.c.state,
            )
            .join(T_RUN, T_RUN.c.id == T_LINE.c.run_id)
            .where(T_LINE.c.reference.in_(chunk), T_LINE.c.status == PAYABLE)
            .order_by(T_LINE.c.reference)
            .with_for_update(of=T_LINE)
        ).mappings():  # fmt: skip
            if row["state"] in (APPROVED, PAID):
                lines[str(row["reference"])] = dict(row)

    record = BankImport(
        filename=name,
        format=statement.format,
        sha256=digest,
        imported_by=getattr(who, "actor", str(who)),
        imported_at=now,
        covers_to=statement.covers_to,
        lines=len(txs),
        summary={},
    )
    session.add(record)
    session.flush()
    assert record.id is not None
    closed = ledger.closed_months(session)
    last_closed = Month.parse(closed[-1]) if closed else None

    # Classify. Payments are summed per settlement line before deciding matched/differs.
    rows: list[dict[str, Any]] = []
    contributions: dict[int, list[int]] = defaultdict(list)  # line id -> indexes into rows
    unexpected: list[tuple[int, str]] = []  # (index into rows, why)
    for t in new:
        ref = refs[t]
        line = lines.get(ref) if ref else None
        row: dict[str, Any] = {
            "import_id": record.id,
            "line_no": t.line_no,
            "booked_on": t.booked_on,
            "amount_pence": t.amount_pence,
            "reference": ref,
            "text": t.text,
            "counterparty": t.counterparty,
            "bank_ref": t.bank_ref,
            "fingerprint": t.fingerprint,
            "outcome": IGNORED,
            "settlement_line_id": None,
            "counted_month": None,
        }
        if line is not None and t.currency == "GBP":
            row["settlement_line_id"] = line["id"]
            row["counted_month"] = _counted_month(t.booked_on, last_closed, now)
            contributions[int(line["id"])].append(len(rows))
        elif t.amount_pence < 0 or (ref and t.amount_pence > 0):
            row["outcome"] = UNEXPECTED
            if t.currency != "GBP":
                why = f"a payment in {t.currency}, not pounds"
            elif ref:
                why = f"reference {ref} is not a payment of an approved settlement run"
            else:
                why = "money out with no settlement payment reference"
            unexpected.append((len(rows), why))
        rows.append(row)

    by_id = {int(x["id"]): x for x in lines.values()}
    line_updates = []
    differs: list[tuple[int, int, int]] = []  # (line id, expected, seen)
    matched_lines: list[int] = []
    for line_id, indexes in contributions.items():
        line = by_id[line_id]
        seen = int(line["paid_pence"]) - sum(rows[i]["amount_pence"] for i in indexes)
        ok = seen == int(line["amount_pence"])
        for i in indexes:
            rows[i]["outcome"] = MATCHED if ok else AMOUNT_DIFFERS
        paid_on = max(rows[i]["booked_on"] for i in indexes) if ok else None
        line_updates.append({"b_id": line_id, "b_paid": seen, "b_on": paid_on})
        if ok:
            matched_lines.append(line_id)
        else:
            differs.append((line_id, int(line["amount_pence"]), seen))

    # Plain multi-row INSERTs (no RETURNING, which would make SQLAlchemy write one row at a
    # time to keep the ids in order); the few ids needed are read back by fingerprint.
    for chunk in _chunks(rows):
        session.execute(insert(T_BANK_LINE), chunk)
    wanted_ids = [rows[i]["fingerprint"] for i, _ in unexpected]
    id_of: dict[str, int] = {}
    for chunk in _chunks(wanted_ids):
        id_of.update(
            (str(f), int(i))
            for i, f in session.execute(
                select(T_BANK_LINE.c.id, T_BANK_LINE.c.fingerprint).where(
                    T_BANK_LINE.c.fingerprint.in_(chunk)
                )
            )
        )
    if line_updates:
        session.execute(
            update(T_LINE)
            .where(T_LINE.c.id == bindparam("b_id"))
            .values(paid_pence=bindparam("b_paid"), paid_on=bindparam("b_on")),
            line_updates,
        )

    # The exceptions queue: earlier open items of the lines this file settles or re-measures
    # are resolved by this import; then this import's own items.
    touched = list(contributions)
    resolution = f"bank import {record.id} ({name})"
    for ids_, why in (
        (matched_lines, "matched: the bank shows the payment in full"),
        ([x for x in touched if x not in set(matched_lines)], "superseded by a newer figure"),
    ):
        if ids_:
            session.execute(
                update(T_MISMATCH)
                .where(
                    T_MISMATCH.c.settlement_line_id == bindparam("b_line"),
                    T_MISMATCH.c.resolved_at.is_(None),
                )
                .values(resolved_at=now, resolved_by=resolution, resolution=why),
                [{"b_line": x} for x in ids_],
            )
    shops = {int(x["id"]): int(x["shop_id"]) for x in lines.values()}
    items: list[dict[str, Any]] = []
    for index, why in unexpected:
        t = rows[index]
        items.append(
            {
                "kind": UNEXPECTED,
                "bank_line_id": id_of[t["fingerprint"]],
                "settlement_line_id": None,
                "shop_id": None,
                "expected_pence": None,
                "seen_pence": t["amount_pence"],
                "detail": (
                    f"{why}: {pounds(t['amount_pence'])} pounds on "
                    f"{t['booked_on'].isoformat()} ({t['text'][:120] or 'no text'})"
                )[:500],
            }
        )
    for line_id, expected, seen in differs:
        ref = next(r for r, x in lines.items() if int(x["id"]) == line_id)
        items.append(
            {
                "kind": AMOUNT_DIFFERS,
                "bank_line_id": None,
                "settlement_line_id": line_id,
                "shop_id": shops[line_id],
                "expected_pence": expected,
                "seen_pence": seen,
                "detail": (
                    f"payment {ref}: the run pays {pounds(expected)} pounds, the bank shows "
                    f"{pounds(seen)} pounds paid"
                ),
            }
        )
    missing = _missing(session, statement.covers_to, set(touched))
    items += missing
    if items:
        session.execute(
            insert(BankMismatch),
            [{**x, "import_id": record.id, "found_at": now} for x in items],
        )
    runs_paid = _update_runs(session, {int(x["run_id"]) for x in lines.values()}, now)
    summary = {
        "matched": sum(1 for r in rows if r["outcome"] == MATCHED),
        "amount_differs": len(differs),
        "unexpected": len(unexpected),
        "ignored": sum(1 for r in rows if r["outcome"] == IGNORED),
        "duplicate": len(txs) - len(new),
        "missing": len(missing),
        "payments_matched": len(matched_lines),
        "runs_paid": runs_paid,
    }
    record.summary = summary
    session.add(record)
    session.flush()
    audit.record(
        session,
        who,
        "bank.import",
        f"bank_import:{record.id}",
        filename=name,
        sha256=digest,
        **{k: v for k, v in summary.items() if k != "runs_paid"},
        runs_paid=runs_paid,
    )
    return _result(session, record)


def _missing(session: Session, covers_to: date | None, touched: set[int]) -> list[dict[str, Any]]:
    """Payments of approved runs the bank has not shown at all by the statement's last day
    (each reported once while it stays open)."""
    if covers_to is None:
        return []
    already = select(T_MISMATCH.c.settlement_line_id).where(
        T_MISMATCH.c.kind == MISSING,
        T_MISMATCH.c.resolved_at.is_(None),
        T_MISMATCH.c.settlement_line_id.is_not(None),
    )
    rows = session.execute(
        select(T_LINE.c.id, T_LINE.c.shop_id, T_LINE.c.reference, T_LINE.c.amount_pence,
               T_RUN.c.execution_date, T_RUN.c.reference)
        .join(T_RUN, T_RUN.c.id == T_LINE.c.run_id)
        .where(
            T_RUN.c.state == APPROVED,
            T_LINE.c.status == PAYABLE,
            T_LINE.c.paid_pence == 0,
            T_RUN.c.execution_date <= covers_to,
            T_LINE.c.id.not_in(already),
        )
    ).all()  # fmt: skip
    return [
        {
            "kind": MISSING,
            "bank_line_id": None,
            "settlement_line_id": int(line_id),
            "shop_id": int(shop_id),
            "expected_pence": int(amount),
            "seen_pence": 0,
            "detail": (
                f"payment {ref} of run {run_ref} ({pounds(int(amount))} pounds, requested for "
                f"{day.isoformat()}) is not on the bank statement up to {covers_to.isoformat()}"
            ),
        }
        for line_id, shop_id, ref, amount, day, run_ref in rows
        if int(line_id) not in touched
    ]


def _update_runs(session: Session, run_ids: set[int], now: datetime) -> list[int]:
    """Mark runs paid when every payment is matched (and back to approved if one no longer
    is). Returns the runs that became paid."""
    became_paid = []
    for run_id in sorted(run_ids):
        state = session.execute(select(T_RUN.c.state).where(T_RUN.c.id == run_id)).scalar_one()
        unpaid = session.execute(
            select(T_LINE.c.id)
            .where(
                T_LINE.c.run_id == run_id,
                T_LINE.c.status == PAYABLE,
                T_LINE.c.paid_pence != T_LINE.c.amount_pence,
            )
            .limit(1)
        ).first()
        if unpaid is None and state == APPROVED:
            session.execute(
                update(T_RUN).where(T_RUN.c.id == run_id).values(state=PAID, paid_at=now)
            )
            became_paid.append(run_id)
        elif unpaid is not None and state == PAID:
            session.execute(
                update(T_RUN).where(T_RUN.c.id == run_id).values(state=APPROVED, paid_at=None)
            )
    return became_paid


# --- reading and resolving ---------------------------------------------------------------


def load_import(session: Session, import_id: Any) -> ImportResult:
    """One import with its mismatches."""
    row = session.get(BankImport, import_id) if type(import_id) is int else None
    if row is None:
        raise NotFound(f"there is no bank import {import_id!r}")
    return _result(session, row)


def import_lines(session: Session, import_id: int) -> list[dict[str, Any]]:
    """Every transaction of one import, in file order."""
    return [
        dict(r)
        for r in session.execute(
            select(T_BANK_LINE)
            .where(T_BANK_LINE.c.import_id == import_id)
            .order_by(T_BANK_LINE.c.line_no)
        ).mappings()
    ]


def list_imports(session: Session, *, page: int = 1, per_page: int = 25) -> Page[Any]:
    """Imports newest first."""
    found = paginate(
        session, select(BankImport).order_by(T_IMPORT.c.id.desc()), page=page, per_page=per_page
    )
    return Page([_result(session, r) for r in found.items], found.page, found.per_page, found.total)


@dataclass(frozen=True, slots=True)
class MismatchView:
    id: int
    kind: str
    import_id: int
    import_filename: str
    imported_by: str
    found_at: datetime
    detail: str
    shop_id: int | None
    shop_name: str | None
    settlement_line_id: int | None
    run_id: int | None
    payment_reference: str | None
    bank_line_id: int | None
    expected_pence: int | None
    seen_pence: int | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


def _mismatch_query() -> Any:
    return (
        select(
            T_MISMATCH, T_IMPORT.c.filename, T_IMPORT.c.imported_by, T_SHOP.c.name,
            T_LINE.c.run_id, T_LINE.c.reference,
        )
        .join(T_IMPORT, T_IMPORT.c.id == T_MISMATCH.c.import_id)
        .join(T_SHOP, T_SHOP.c.id == T_MISMATCH.c.shop_id, isouter=True)
        .join(T_LINE, T_LINE.c.id == T_MISMATCH.c.settlement_line_id, isouter=True)
    )  # fmt: skip


def _mismatch(row: Any) -> MismatchView:
    m = row._mapping
    return MismatchView(
        id=int(m["id"]),
        kind=m["kind"],
        import_id=int(m["import_id"]),
        import_filename=m["filename"],
        imported_by=m["imported_by"],
        found_at=m["found_at"],
        detail=m["detail"],
        shop_id=m["shop_id"],
        shop_name=m["name"],
        settlement_line_id=m["settlement_line_id"],
        run_id=m["run_id"],
        payment_reference=m["reference"],
        bank_line_id=m["bank_line_id"],
        expected_pence=m["expected_pence"],
        seen_pence=m["seen_pence"],
        resolved_at=m["resolved_at"],
        resolved_by=m["resolved_by"],
        resolution=m["resolution"],
    )


def mismatches(
    session: Session,
    *,
    open_only: bool = False,
    shop_id: int | None = None,
    month: Month | None = None,
    limit: int = 200,
) -> list[MismatchView]:
    """Mismatches newest first (the exceptions queue reads these)."""
    query = _mismatch_query().order_by(T_MISMATCH.c.found_at.desc(), T_MISMATCH.c.id.desc())
    if open_only:
        query = query.where(T_MISMATCH.c.resolved_at.is_(None))
    if shop_id is not None:
        query = query.where(T_MISMATCH.c.shop_id == shop_id)
    if month is not None:
        query = query.where(
            T_MISMATCH.c.found_at >= month.starts_at, T_MISMATCH.c.found_at < month.ends_at
        )
    return [_mismatch(r) for r in session.execute(query.limit(limit))]


def load_mismatch(session: Session, mismatch_id: Any) -> MismatchView:
    """One mismatch, or not_found."""
    row = (
        session.execute(_mismatch_query().where(T_MISMATCH.c.id == mismatch_id)).first()
        if type(mismatch_id) is int
        else None
    )
    if row is None:
        raise NotFound(f"there is no bank mismatch {mismatch_id!r}")
    return _mismatch(row)


def resolve_mismatch(
    session: Session, who: Any, mismatch_id: Any, *, resolution: Any, now: datetime | None = None
) -> MismatchView:
    """An officer records how a mismatch was dealt with (who, when, why); audited as
    ``bank_mismatch.resolve``. A resolved one stays resolved (``mismatch_resolved``)."""
    why = " ".join(resolution.split()) if isinstance(resolution, str) else ""
    if not 0 < len(why) <= MAX_RESOLUTION_CHARS:
        raise ValidationFailed(
            "say how it was resolved",
            errors={"resolution": [f"Required, at most {MAX_RESOLUTION_CHARS} characters."]},
        )
    found = load_mismatch(session, mismatch_id)
    changed = session.execute(
        update(T_MISMATCH)
        .where(T_MISMATCH.c.id == found.id, T_MISMATCH.c.resolved_at.is_(None))
        .values(resolved_at=now or utcnow(), resolved_by=who.actor, resolution=why)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise MismatchResolved(
            f"this mismatch was already resolved by {found.resolved_by}: {found.resolution}"
        )
    audit.record(
        session,
        who,
        "bank_mismatch.resolve",
        f"bank_mismatch:{found.id}",
        kind=found.kind,
        resolution=why,
    )
    return load_mismatch(session, found.id)
