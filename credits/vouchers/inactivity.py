"""The scheme's inactivity policy (optional; off by default): lapse dormant balances.

``CREDITS_INACTIVITY_MONTHS = N`` (0 = off). A member who has done nothing for N months has
their spendable balance moved to the scheme's expired account, after a warning shown on
their pages for at least 30 days.

**Activity** is something the member did with their credits: earning them (``earn``),
turning them into a voucher (``voucher_issue``), cancelling one (``cancel``), spending one
(a ``redeem`` entry on their account, or their voucher being redeemed). Things that happen
*to* a member's account without them do not count: a voucher expiring unused and returning
its value, an officer's adjustment or reversal. Signing in does not count either — the
warning is shown when they sign in, and the way to keep credits is to use them (or to earn
more), which the warning says. A member with no activity at all counts from the day their
account was opened.

**Schedule.** The daily run (`credits expire-inactive`, deploy/) first gives notice: a
member within 30 days of N months without activity gets an ``inactivity_notice`` whose
``lapse_at`` is N months after their last activity but never less than 30 days after the
notice — so switching the policy on never lapses anyone without warning. On or after
``lapse_at``, if there has been no activity since, the run posts one ``expire`` entry
(member −balance, expired +balance). Any activity voids the notice. Credits held in open
vouchers are not touched (they expire with their vouchers).

Idempotent and safe to run concurrently: the lapse locks the member's balance row, checks
again, and posts under the key ``inactivity-lapse:<person>:<latest entry on the account>``,
so two runs post it once.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.models import Person
from credits.config import Settings
from credits.db import Database, utcnow
from credits.ledger.models import T_ACCOUNT, T_BALANCE, T_ENTRY, T_POSTING
from credits.vouchers.models import InactivityNotice, Voucher, VoucherState

WARNING_DAYS = 30
MAX_MONTHS = 120
#: Entry kinds that are the member's own doing (see the module docstring).
ACTIVE_KINDS = (
    ledger.EntryKind.EARN.value,
    ledger.EntryKind.VOUCHER_ISSUE.value,
    ledger.EntryKind.CANCEL.value,
    ledger.EntryKind.REDEEM.value,
)
ACTOR = "system:inactivity-policy"
V = Voucher.__table__.c  # type: ignore[attr-defined]
N = InactivityNotice.__table__.c  # type: ignore[attr-defined]


@dataclass(frozen=True)
class InactivityPolicy:
    months: int = 0

    @property
    def enabled(self) -> bool:
        return self.months > 0

    @classmethod
    def from_settings(cls, settings: Settings) -> InactivityPolicy:
        months = int(settings.inactivity_months)
        if not 0 <= months <= MAX_MONTHS:
            raise ValueError(f"CREDITS_INACTIVITY_MONTHS must be 0..{MAX_MONTHS}, not {months}")
        return cls(months)


def add_months(t: datetime, months: int) -> datetime:
    """``t`` plus calendar months (the 31st becomes the month's last day)."""
    index = t.month - 1 + months
    year, month = t.year + index // 12, index % 12 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return t.replace(year=year, month=month, day=day)


def last_activity(session: Session, person_id: int) -> tuple[datetime, int, int] | None:
    """(last activity time, balance, latest entry id on the account) of a member, or None
    if they have no member account."""
    person = session.get(Person, person_id)
    if person is None or person.ledger_account_id is None:
        return None
    account_id = person.ledger_account_id
    opened = session.execute(
        select(T_ACCOUNT.c.created_at).where(T_ACCOUNT.c.id == account_id)
    ).scalar_one()
    entry_time = session.execute(
        select(func.max(T_ENTRY.c.occurred_at))
        .select_from(T_ENTRY.join(T_POSTING, T_POSTING.c.entry_id == T_ENTRY.c.id))
        .where(T_POSTING.c.account_id == account_id, T_ENTRY.c.kind.in_(ACTIVE_KINDS))
    ).scalar_one()
    spent = session.execute(
        select(func.max(V.closed_at)).where(
            V.person_id == person_id, V.state == VoucherState.REDEEMED.value
        )
    ).scalar_one()
    latest = session.execute(
        select(func.coalesce(func.max(T_POSTING.c.entry_id), 0)).where(
            T_POSTING.c.account_id == account_id
        )
    ).scalar_one()
    when = max(t for t in (opened, entry_time, spent) if t is not None)
    if when.tzinfo is None:  # SQLite aggregates come back naive (they are UTC)
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return when, ledger.balance(session, account_id), int(latest)


@dataclass(frozen=True)
class Warning:
    """What a member's pages say when their balance is due to lapse."""

    balance: int
    last_activity_at: datetime
    lapse_at: datetime


def warning_for(
    session: Session, person_id: int, policy: InactivityPolicy, *, now: datetime | None = None
) -> Warning | None:
    """The warning to show a member, or None (policy off, nothing to lose, or not yet within
    30 days of lapsing). The date is the notice's when one was given; otherwise the
    earliest the daily run could lapse it."""
    if not policy.enabled:
        return None
    now = now or utcnow()
    found = last_activity(session, person_id)
    if found is None:
        return None
    last, balance, _ = found
    due = add_months(last, policy.months)
    if balance <= 0 or now < due - timedelta(days=WARNING_DAYS):
        return None
    notice = session.get(InactivityNotice, person_id)
    if notice is not None and notice.last_activity_at == last:
        return Warning(balance, last, notice.lapse_at)
    return Warning(balance, last, max(due, now + timedelta(days=WARNING_DAYS)))


@dataclass(frozen=True)
class InactivityRun:
    noticed: int
    lapsed: int
    credits_lapsed: int


def _candidates(session: Session) -> list[int]:
    """Members with a positive spendable balance."""
    return [
        int(pid)
        for pid in session.execute(
            select(Person.id)  # type: ignore[call-overload]
            .join(T_BALANCE, T_BALANCE.c.account_id == Person.ledger_account_id)
            .where(T_BALANCE.c.balance > 0)
            .order_by(Person.id)
        ).scalars()
    ]


def _lock_member(session: Session, person_id: int) -> Person | None:
    """The member, with their balance row locked: nothing can spend, earn, notice or lapse
    for them until this transaction ends (the order every writer takes: balance row first).
    Concurrent runs thus decide about one member one after another, each on what the other
    committed."""
    person = session.get(Person, person_id)
    if person is None or person.ledger_account_id is None:
        return None
    session.execute(
        select(T_BALANCE.c.balance)
        .where(T_BALANCE.c.account_id == person.ledger_account_id)
        .with_for_update()
    )
    return person


def _give_notice(session: Session, person_id: int, policy: InactivityPolicy, now: datetime) -> bool:
    # Locked first: a run that read the notice before another run's lapse (or notice)
    # committed would insert a second notice (unique violation) or a stale one.
    if _lock_member(session, person_id) is None:
        return False
    notice = session.get(InactivityNotice, person_id, populate_existing=True)
    found = last_activity(session, person_id)
    if found is None:
        return False
    last, balance, _ = found
    due = add_months(last, policy.months)
    if balance <= 0 or now < due - timedelta(days=WARNING_DAYS):
        if notice is not None:  # they were active again: the notice is void
            session.execute(delete(InactivityNotice).where(N.person_id == person_id))
        return False
    if notice is not None and notice.last_activity_at == last:
        return False
    lapse_at = max(due, now + timedelta(days=WARNING_DAYS))
    if notice is None:
        session.add(
            InactivityNotice(
                person_id=person_id, last_activity_at=last, noticed_at=now, lapse_at=lapse_at
            )
        )
    else:
        notice.last_activity_at, notice.noticed_at, notice.lapse_at = last, now, lapse_at
        session.add(notice)
    session.flush()
    return True


def _lapse(session: Session, person_id: int, now: datetime) -> int:
    """Lapse one member's balance if their notice is due and still valid; credits lapsed."""
    person = _lock_member(session, person_id)
    if person is None or person.ledger_account_id is None:
        return 0
    notice = session.get(InactivityNotice, person_id, populate_existing=True)
    found = last_activity(session, person_id)
    if notice is None or found is None or now < notice.lapse_at:
        return 0
    last, balance, latest = found
    if last != notice.last_activity_at or balance <= 0:
        return 0
    expired = ledger.scheme_account(session, ledger.EXPIRED)
    ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=ledger.EntryKind.EXPIRE,
            legs=(ledger.Leg(person.ledger_account_id, -balance), ledger.Leg(expired.id, balance)),
            memo=f"Credits lapsed: no activity since {last:%Y-%m-%d} (notice given "
            f"{notice.noticed_at:%Y-%m-%d})",
            actor=ACTOR,
            idempotency_key=f"inactivity-lapse:{person_id}:{latest}",
        ),
        now=now,
    )
    session.execute(delete(InactivityNotice).where(N.person_id == person_id))
    return balance


def run_inactivity(
    db: Database, policy: InactivityPolicy, *, now: datetime | None = None
) -> InactivityRun:
    """Give notices and lapse what is due (one transaction per member). Does nothing when
    the policy is off."""
    if not policy.enabled:
        return InactivityRun(0, 0, 0)
    now = now or utcnow()
    with db.read() as s:
        people = _candidates(s)
        # Notices for members who have since spent everything are void too.
        people += [int(p) for p in s.execute(select(N.person_id)).scalars() if p not in people]
    noticed = lapsed = total = 0
    for person_id in people:
        if db.run(lambda s, p=person_id: _give_notice(s, p, policy, now)):
            noticed += 1
        amount = db.run(lambda s, p=person_id: _lapse(s, p, now))
        if amount:
            lapsed += 1
            total += amount
    return InactivityRun(noticed, lapsed, total)
