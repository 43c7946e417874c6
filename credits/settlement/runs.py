"""Settlement runs: paying the shops for a closed month.

**Invariant** (what `credits verify` proves, credits.settlement.checks): the ``scheme:settled``
account holds exactly the credits of the lines of approved runs, each approved payable line
is exactly one ``settlement`` entry of two postings — its shop ``−credits``, settled
``+credits`` — and no other entry is of that kind. Hence every shop's balance is exactly what
is still unpaid.

**Guarantees of the use cases** (each tested):

1. A run settles a *closed* month (``month_not_closed`` otherwise). For each shop it takes
   every credit not yet settled up to that month's end — rolled-over months included — at
   the rate of the month each was taken in (credits.settlement.unsettled, .amounts). A shop
   whose amount is below the minimum payment (``CREDITS_SETTLEMENT_MINIMUM_PENCE``) is
   recorded as rolled over and paid by a later run.
2. One live run per month and one run waiting for approval at a time (unique columns):
   a second run for a settled month, or for an earlier month than one already settled,
   is ``already_settled``; another run while one waits is ``settlement_pending``. The same
   officer's idempotency key with the same month returns the first run (``replayed``).
3. Every shop to be paid needs approved bank details (``payee_details_missing``, listing
   them); the run records the version it pays, and approval refuses it if a shop's details
   changed since (``payee_details_changed``).
4. Approval posts one balanced entry per paid shop, in one transaction, dated now (or on
   the day the officer gives — never in a closed month: ``period_closed``). Above the
   four-eyes threshold (``CREDITS_SETTLEMENT_FOUR_EYES_PENCE``, for the run's total) the
   officer who started the run cannot approve it (``second_approver_required``; the database
   repeats it). Approving again by the approver returns the run; anyone else gets
   ``already_settled``.
5. A pending run can be cancelled, with a reason; an approved one cannot (its entries are
   posted; the payments file may already be at the bank).
6. Every step is audited (``settlement.create``, ``.approve``, ``.cancel``); remittance
   emails are returned to be sent after the commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.accounts import Principal, Role
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.earning import dates
from credits.earning.request_checks import check_client_key, require_role
from credits.errors import ValidationFailed
from credits.ledger.periods import Month
from credits.paging import Page, paginate
from credits.settlement import payees
from credits.settlement.amounts import pence_for
from credits.settlement.errors import (
    AlreadySettled,
    MonthNotClosed,
    PayeeDetailsChanged,
    PayeeDetailsMissing,
    RateNotSet,
    RunNotFound,
    RunNotPending,
    RunPending,
    SecondApproverRequired,
)
from credits.settlement.models import (
    APPROVED,
    CANCELLED,
    PAID,
    PAYABLE,
    PENDING,
    ROLLED_OVER,
    T_LINE,
    T_RUN,
    Payee,
    SettlementLine,
    SettlementRun,
)
from credits.settlement.unsettled import Rates, unsettled
from credits.shops.models import Shop

#: Defaults of the policy (settings override them): £10 minimum payment; a second officer
#: for a run of more than £500.
DEFAULT_MINIMUM_PENCE = 1_000
DEFAULT_FOUR_EYES_PENCE = 50_000
MAX_REASON_CHARS = 300

T_SHOP = Shop.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Policy:
    """The council's settlement policy, from the settings."""

    minimum_pence: int = DEFAULT_MINIMUM_PENCE
    four_eyes_pence: int = DEFAULT_FOUR_EYES_PENCE

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """``CREDITS_SETTLEMENT_MINIMUM_PENCE`` and ``CREDITS_SETTLEMENT_FOUR_EYES_PENCE``.

        Deliberately not something an officer sets on a page: an officer lowering the
        four-eyes threshold would defeat it."""
        return cls(
            minimum_pence=max(0, int(getattr(settings, "settlement_minimum_pence", 1_000))),
            four_eyes_pence=max(0, int(getattr(settings, "settlement_four_eyes_pence", 50_000))),
        )


def run_reference(month: Month | str, run_id: int) -> str:
    """The run's reference on the payments file: ``CCS-2026-10-7``."""
    return f"CCS-{month}-{run_id}"


def payment_reference(month: Month, run_id: int, shop_id: int) -> str:
    """What the bank shows against one payment: ``CC202610R7S12``. Letters and digits only,
    at most 18 characters for runs below 1,000 and shops below 100,000, so it survives the
    UK schemes' 18-character reference and a bank's upper-casing and punctuation stripping."""
    return f"CC{month.year:04d}{month.month:02d}R{run_id}S{shop_id}"


@dataclass(frozen=True, slots=True)
class LineView:
    """One shop in a run."""

    id: int
    shop_id: int
    shop_name: str
    status: str
    credits: int
    amount_pence: int
    breakdown: list[dict[str, Any]]
    payee_id: int | None
    reference: str | None
    entry_id: int | None
    paid_pence: int
    paid_on: date | None

    @property
    def paid(self) -> bool:
        return self.status == PAYABLE and self.paid_pence == self.amount_pence


@dataclass(frozen=True, slots=True)
class RunView:
    """A settlement run as the API and pages show it."""

    id: int
    month: str
    reference: str
    state: str
    minimum_pence: int
    four_eyes_pence: int
    needs_second_approver: bool
    total_credits: int
    total_pence: int
    payments: int
    created_by: str
    created_by_person_id: int
    created_at: datetime
    approved_by: str | None
    approved_by_person_id: int | None
    approved_at: datetime | None
    settled_at: datetime | None
    execution_date: date | None
    paid_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    lines: tuple[LineView, ...] = ()
    replayed: bool = False

    @property
    def rolled_over(self) -> tuple[LineView, ...]:
        return tuple(x for x in self.lines if x.status == ROLLED_OVER)

    @property
    def payable(self) -> tuple[LineView, ...]:
        return tuple(x for x in self.lines if x.status == PAYABLE)


def _run_view(row: SettlementRun, lines: Sequence[LineView] = ()) -> RunView:
    assert row.id is not None
    return RunView(
        id=row.id,
        month=row.month,
        reference=row.reference,
        state=row.state,
        minimum_pence=row.minimum_pence,
        four_eyes_pence=row.four_eyes_pence,
        needs_second_approver=row.needs_second_approver,
        total_credits=row.total_credits,
        total_pence=row.total_pence,
        payments=row.payments,
        created_by=row.created_by,
        created_by_person_id=row.created_by_person_id,
        created_at=row.created_at,
        approved_by=row.approved_by,
        approved_by_person_id=row.approved_by_person_id,
        approved_at=row.approved_at,
        settled_at=row.settled_at,
        execution_date=row.execution_date,
        paid_at=row.paid_at,
        cancelled_by=row.cancelled_by,
        cancelled_at=row.cancelled_at,
        cancel_reason=row.cancel_reason,
        lines=tuple(lines),
    )


def _lines(session: Session, run_id: int) -> list[LineView]:
    rows = session.execute(
        select(SettlementLine, T_SHOP.c.name)
        .join(T_SHOP, T_SHOP.c.id == T_LINE.c.shop_id)
        .where(T_LINE.c.run_id == run_id)
        .order_by(T_SHOP.c.name, T_LINE.c.shop_id)
        .execution_options(populate_existing=True)
    ).all()
    return [_line_view(line, str(name)) for line, name in rows]


def _line_view(line: SettlementLine, shop_name: str) -> LineView:
    assert line.id is not None
    return LineView(
        id=line.id,
        shop_id=line.shop_id,
        shop_name=shop_name,
        status=line.status,
        credits=line.credits,
        amount_pence=line.amount_pence,
        breakdown=list(line.breakdown),
        payee_id=line.payee_id,
        reference=line.reference,
        entry_id=line.entry_id,
        paid_pence=line.paid_pence,
        paid_on=line.paid_on,
    )


def load_run(session: Session, run_id: Any) -> RunView:
    """The run with its lines, or :class:`RunNotFound`."""
    row = (
        session.get(SettlementRun, run_id, populate_existing=True) if type(run_id) is int else None
    )
    if row is None:
        raise RunNotFound(f"there is no settlement run {run_id!r}")
    assert row.id is not None
    return _run_view(row, _lines(session, row.id))


def list_runs(
    session: Session,
    *,
    state: str | None = None,
    month: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> Page[RunView]:
    """Runs newest first (without their lines), filtered by state or month."""
    query = select(SettlementRun).order_by(T_RUN.c.id.desc())
    if state is not None:
        query = query.where(T_RUN.c.state == state)
    if month is not None:
        query = query.where(T_RUN.c.month == str(Month.parse(month)))
    found = paginate(session, query, page=page, per_page=per_page)
    return Page([_run_view(r) for r in found.items], found.page, found.per_page, found.total)


# --- starting a run ----------------------------------------------------------------------


def _month(value: Any) -> Month:
    if not isinstance(value, str):
        raise ValidationFailed("month must be YYYY-MM", errors={"month": ["Use YYYY-MM."]})
    try:
        return Month.parse(value)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.detail, errors={"month": [exc.detail]}) from None


def _live_run(session: Session, where: Any) -> SettlementRun | None:
    return session.execute(
        select(SettlementRun).where(T_RUN.c.live_month.is_not(None), where).limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class _Computed:
    shop_id: int
    name: str
    credits: int
    pence: int
    breakdown: list[dict[str, Any]]


def compute(session: Session, month: Month) -> list[_Computed]:
    """What each shop would be settled for in a run for ``month`` now (nothing written):
    its unsettled credits up to the month's end, valued at each month's rate. Raises
    ``rate_not_set`` if a month with credits to settle has no rate."""
    rates = Rates(session)
    out: list[_Computed] = []
    missing: set[str] = set()
    for u in sorted(unsettled(session, month).values(), key=lambda x: (x.name, x.shop_id)):
        if not u.by_month:
            continue
        parts = []
        breakdown = []
        for m in sorted(u.by_month):
            rate = rates(m)
            if rate is None:
                missing.add(str(m))
                continue
            credits = u.by_month[m]
            parts.append((credits, rate))
            breakdown.append(
                {"month": str(m), "credits": credits, "rate": rate, "pence": credits * rate}
            )
        out.append(_Computed(u.shop_id, u.name, u.credits, pence_for(parts), breakdown))
    if missing:
        months = ", ".join(sorted(missing))
        raise RateNotSet(
            f"no reimbursement rate is set for {months}: set one (credits set-rate) first",
            months=sorted(missing),
        )
    return out


def create_run(
    session: Session,
    who: Principal,
    *,
    month: Any,
    idempotency_key: Any,
    policy: Policy,
    now: datetime | None = None,
) -> RunView:
    """Start a settlement run for a closed month (see the module docstring): computed and
    stored ``pending`` with a line per shop with credits to settle. Nothing moves yet."""
    officer_id = require_role(who, Role.OFFICER)
    m = _month(month)
    client_key = check_client_key(idempotency_key)
    namespaced = f"settlement:{officer_id}:{client_key}"
    earlier = session.execute(
        select(SettlementRun).where(T_RUN.c.idempotency_key == namespaced)
    ).scalar_one_or_none()
    if earlier is not None:
        if earlier.month != str(m):
            raise ledger.IdempotencyConflict(
                "this idempotency_key was already used for a run of another month"
            )
        return replace(load_run(session, earlier.id), replayed=True)
    if str(m) not in ledger.closed_months(session):
        raise MonthNotClosed(
            f"{m} is not closed: close it (every check runs) before settling it", month=str(m)
        )
    same = _live_run(session, T_RUN.c.month == str(m))
    if same is not None:
        raise AlreadySettled(
            f"{m} already has settlement run {same.reference} ({same.state})",
            run_id=same.id,
            month=str(m),
        )
    later = _live_run(session, T_RUN.c.month > str(m))
    if later is not None:
        raise AlreadySettled(
            f"{later.month} is already settled ({later.reference}), and it took every credit "
            f"up to its end: nothing of {m} is left to settle",
            run_id=later.id,
            month=str(m),
        )
    waiting = session.execute(
        select(SettlementRun).where(T_RUN.c.pending_slot == 1)
    ).scalar_one_or_none()
    if waiting is not None:
        raise RunPending(
            f"run {waiting.reference} is waiting for approval: approve or cancel it first",
            run_id=waiting.id,
        )
    computed = compute(session, m)
    payee_of = payees.active_payees(session)
    lines: list[dict[str, Any]] = []
    without_payee = []
    for c in computed:
        payable = c.credits > 0 and c.pence > 0 and c.pence >= policy.minimum_pence
        if payable and c.shop_id not in payee_of:
            without_payee.append({"shop_id": c.shop_id, "name": c.name})
        lines.append(
            {
                "shop_id": c.shop_id,
                "status": PAYABLE if payable else ROLLED_OVER,
                "credits": c.credits,
                "amount_pence": c.pence,
                "breakdown": c.breakdown,
                "payee_id": payee_of.get(c.shop_id) if payable else None,
            }
        )
    if without_payee:
        names = ", ".join(s["name"] for s in without_payee)
        raise PayeeDetailsMissing(
            f"these shops are owed money but have no approved bank details: {names}",
            shops=without_payee,
        )
    payable_lines = [x for x in lines if x["status"] == PAYABLE]
    total_pence = sum(x["amount_pence"] for x in payable_lines)
    now = now or utcnow()
    run = SettlementRun(
        month=str(m),
        reference="~" + hashlib.sha256(namespaced.encode()).hexdigest()[:30],
        state=PENDING,
        live_month=str(m),
        pending_slot=1,
        minimum_pence=policy.minimum_pence,
        four_eyes_pence=policy.four_eyes_pence,
        needs_second_approver=total_pence > policy.four_eyes_pence,
        total_credits=sum(x["credits"] for x in payable_lines),
        total_pence=total_pence,
        payments=len(payable_lines),
        idempotency_key=namespaced,
        created_by_person_id=officer_id,
        created_by=who.actor,
        created_at=now,
    )
    session.add(run)
    try:
        session.flush()
    except Exception as exc:
        if any(unique_violation(exc, c) for c in ("live_month", "pending_slot", "idempotency_key")):
            # Another officer started a run at the same moment: run again and see theirs.
            raise RetryTransaction("settlement runs started concurrently") from exc
        raise
    assert run.id is not None
    run.reference = run_reference(m, run.id)
    session.add(run)
    if lines:
        session.execute(
            insert(SettlementLine),
            [
                {
                    **x,
                    "run_id": run.id,
                    "reference": payment_reference(m, run.id, x["shop_id"])
                    if x["status"] == PAYABLE
                    else None,
                    "paid_pence": 0,
                }
                for x in lines
            ],
        )
    session.flush()
    audit.record(
        session,
        who,
        "settlement.create",
        f"settlement:{run.id}",
        month=str(m),
        reference=run.reference,
        payments=run.payments,
        total_pence=total_pence,
        rolled_over=len(lines) - len(payable_lines),
        needs_second_approver=run.needs_second_approver,
    )
    return load_run(session, run.id)


# --- approving, cancelling ---------------------------------------------------------------


def _lock(session: Session, run_id: Any) -> SettlementRun:
    row = (
        session.execute(
            select(SettlementRun)
            .where(T_RUN.c.id == run_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if type(run_id) is int
        else None
    )
    if row is None:
        raise RunNotFound(f"there is no settlement run {run_id!r}")
    return row


def _settled_at(session: Session, settled_on: Any, now: datetime) -> datetime | None:
    """When the entries are dated: now (None), or the start of the London day given — not in
    the future, and never in a closed month (``period_closed``)."""
    if settled_on in (None, ""):
        return None
    day = settled_on if isinstance(settled_on, date) else dates.parse_date(settled_on)
    if day > dates.london_today(now):
        raise ValidationFailed(
            f"{day.isoformat()} is in the future", errors={"settled_on": ["In the future."]}
        )
    at = dates.entry_time(day)
    ledger.ensure_open(session, at)
    return at


def approve_run(
    session: Session,
    who: Principal,
    run_id: Any,
    *,
    settled_on: Any = None,
    mailer_context: Any = None,
    now: datetime | None = None,
) -> tuple[RunView, list[Any]]:
    """Approve a pending run: post each paid shop's settlement entry (see the module
    docstring). Returns the run and the remittance emails to send after the commit."""
    officer_id = require_role(who, Role.OFFICER)
    now = now or utcnow()
    row = _lock(session, run_id)
    assert row.id is not None
    if row.state in (APPROVED, PAID):
        if row.approved_by_person_id == officer_id:
            return replace(load_run(session, row.id), replayed=True), []
        raise AlreadySettled(
            f"run {row.reference} was already approved by {row.approved_by}",
            run_id=row.id,
            month=row.month,
        )
    if row.state != PENDING:
        raise RunNotPending(f"run {row.reference} was {row.state}", run_id=row.id)
    if row.needs_second_approver and row.created_by_person_id == officer_id:
        raise SecondApproverRequired(
            f"run {row.reference} pays {row.total_pence / 100:.2f} pounds, more than the "
            f"{row.four_eyes_pence / 100:.2f} a single officer may approve: another officer "
            "must approve it (four eyes)",
            run_id=row.id,
        )
    occurred_at = _settled_at(session, settled_on, now)
    lines = (
        session.execute(
            select(SettlementLine).where(T_LINE.c.run_id == row.id, T_LINE.c.status == PAYABLE)
        )
        .scalars()
        .all()
    )
    current = payees.active_payees(session)
    changed = [x.shop_id for x in lines if current.get(x.shop_id) != x.payee_id]
    if changed:
        raise PayeeDetailsChanged(
            f"bank details of {len(changed)} shop(s) changed since run {row.reference} was "
            "computed: cancel it and start a new run",
            shops=changed,
        )
    settled = ledger.scheme_account(session, ledger.SETTLED).id
    shops = session.execute(
        select(T_SHOP.c.id, T_SHOP.c.ledger_account_id, T_SHOP.c.name).where(
            T_SHOP.c.id.in_([x.shop_id for x in lines] or [-1])
        )
    ).all()
    accounts = {int(i): int(a) for i, a, _ in shops}
    names = {int(i): str(n) for i, _, n in shops}
    for line in lines:
        entry = ledger.post_entry(
            session,
            ledger.EntryRequest(
                kind=ledger.EntryKind.SETTLEMENT,
                legs=(
                    ledger.Leg(int(accounts[line.shop_id]), -line.credits),
                    ledger.Leg(settled, line.credits),
                ),
                memo=(
                    f"Settlement {row.reference}: {names[line.shop_id]} paid "
                    f"{line.amount_pence // 100}.{line.amount_pence % 100:02d} pounds for "
                    f"{line.credits} credits (payment {line.reference})"
                )[:500],
                actor=who.actor,
                idempotency_key=f"settlement:{row.id}:{line.shop_id}",
                occurred_at=occurred_at,
            ),
            now=now,
        )
        line.entry_id = entry.id
        session.add(line)
    row.state = APPROVED
    row.pending_slot = None
    row.approved_by_person_id = officer_id
    row.approved_by = who.actor
    row.approved_at = now
    row.settled_at = occurred_at or now
    row.execution_date = dates.london_today(now)
    session.add(row)
    session.flush()
    audit.record(
        session,
        who,
        "settlement.approve",
        f"settlement:{row.id}",
        month=row.month,
        reference=row.reference,
        payments=len(lines),
        total_pence=row.total_pence,
        settled_at=row.settled_at.isoformat(),
    )
    view = load_run(session, row.id)
    messages: list[Any] = []
    if mailer_context is not None:
        from credits.settlement.remittance import remittance_messages

        messages = remittance_messages(session, view, mailer_context)
    return view, messages


def cancel_run(
    session: Session, who: Principal, run_id: Any, *, reason: Any, now: datetime | None = None
) -> RunView:
    """Cancel a pending run, saying why; the month can then be settled by a new run."""
    require_role(who, Role.OFFICER)
    why = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not 0 < len(why) <= MAX_REASON_CHARS:
        raise ValidationFailed(
            "say why the run is cancelled",
            errors={"reason": [f"Required, at most {MAX_REASON_CHARS} characters."]},
        )
    row = _lock(session, run_id)
    if row.state != PENDING:
        raise RunNotPending(
            f"run {row.reference} is {row.state}: only a run waiting for approval can be cancelled",
            run_id=row.id,
            state=row.state,
        )
    row.state = CANCELLED
    row.live_month = None
    row.pending_slot = None
    row.cancelled_by = who.actor
    row.cancelled_at = now or utcnow()
    row.cancel_reason = why
    session.add(row)
    session.flush()
    audit.record(
        session, who, "settlement.cancel", f"settlement:{row.id}", month=row.month, reason=why
    )
    return load_run(session, row.id)


def payee_of_line(session: Session, line: LineView) -> Payee | None:
    """The payee version a line pays (None for a rolled-over line)."""
    return None if line.payee_id is None else session.get(Payee, line.payee_id)
