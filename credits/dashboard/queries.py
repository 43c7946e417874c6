"""What the officer dashboard shows, read with a few set-based queries.

Every monthly figure counts entries by their ``occurred_at`` in Europe/London months
(:class:`credits.ledger.Month`) and by the entry kinds exactly as the ledger records them, so
the figures agree with the statements:

- **issued** in a month: credits taken from ``scheme:issuance`` by entries of kind ``earn``
  (minus the issuance posting, so a positive number);
- **redeemed**: credits paid into shop accounts by entries of kind ``redeem`` (the change
  returned to members is not redeemed; offline double spends paid by the scheme are
  ``adjustment`` entries and appear in the exceptions queue instead);
- **outstanding liability** at a month's end: the balances of every member account plus
  ``scheme:vouchers_outstanding``, as of that instant. It is computed backwards from the
  stored balances (cheap: ``account_balance``) by subtracting what was posted after each
  month end, so only the last twelve months of postings are read, never the whole journal.
- **closed months** are not computed at all: the month close stores their issued, redeemed
  and liability figures (``month_close``, credits.statements.snapshots), so only the open
  months' postings are read — usually just the current month's and the last one's.

The queries group in SQL (a ``CASE`` over the twelve month ranges, so the same SQL runs on
PostgreSQL and SQLite) and read the journal through ``ix_journal_entry_occurred_at``; no
Python loop ever walks postings. Lists (the queue, the audit actions) are bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.models import ApiToken, Person, PersonStatus
from credits.adjustments.models import T_ADJUSTMENT
from credits.audit.models import AuditEvent
from credits.db import utcnow
from credits.earning.models import T_ACTIVITY, T_AWARD
from credits.ledger import Month
from credits.ledger.models import T_ACCOUNT, T_BALANCE, T_ENTRY, T_POSTING
from credits.shops.models import Shop, Terminal
from credits.statements import snapshots
from credits.vouchers.models import Voucher

T_SHOP = Shop.__table__  # type: ignore[attr-defined]
T_VOUCHER = Voucher.__table__  # type: ignore[attr-defined]
T_AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]

#: How many months the charts cover (the current month and the eleven before it).
MONTHS_SHOWN = 12
#: Vouchers expiring within this many days are counted.
EXPIRING_DAYS = 14
LIABILITY_TYPES = (ledger.AccountType.MEMBER.value, ledger.AccountType.VOUCHERS_OUTSTANDING.value)


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """One London month's flows, and the liability at its end (``at``: the month's end, or
    now for the current month)."""

    month: Month
    issued: int
    redeemed: int
    liability: int
    at: datetime
    current: bool


@dataclass(frozen=True, slots=True)
class Share:
    """Credits attributed to one activity or shop (``ref``: its slug or id; None: none)."""

    name: str
    credits: int
    ref: str | int | None


@dataclass(frozen=True, slots=True)
class Expiring:
    count: int
    credits: int
    until: datetime


def last_months(now: datetime, count: int = MONTHS_SHOWN) -> list[Month]:
    """The current London month and the ``count - 1`` before it, oldest first."""
    months = [Month.containing(now)]
    while len(months) < count:
        months.append(months[-1].previous())
    return list(reversed(months))


def _bucket(months: list[Month], offset: int = 0) -> Any:
    """SQL: ``offset`` + the index of the month an entry's ``occurred_at`` falls in (-1:
    none)."""
    return case(
        *[
            (
                and_(T_ENTRY.c.occurred_at >= m.starts_at, T_ENTRY.c.occurred_at < m.ends_at),
                literal(offset + i),
            )
            for i, m in enumerate(months)
        ],
        else_=literal(-1),
    )


def monthly_figures(session: Session, now: datetime | None = None) -> list[MonthFigures]:
    """Issued, redeemed and liability for each of the last twelve London months.

    Closed months (with a close snapshot) come from the figures stored at the close; the
    open months from two queries: one over their postings (grouped by month in SQL), one
    over the stored liability balances.
    """
    now = now or utcnow()
    months = last_months(now)
    # Closed months have their figures stored by the close (credits.statements.snapshots):
    # read them. Postings are read only from the first month without stored figures on
    # (months close in order, so those are the latest ones).
    stored = snapshots.stored_figures(session, months)
    # Months before the first entry hold nothing and owe nothing (balances start at 0).
    first_entry = session.execute(select(func.min(T_ENTRY.c.occurred_at))).scalar()
    for m in months:
        if first_entry is None or m.ends_at <= first_entry:
            stored.setdefault(m, snapshots.MonthSnapshot(m, 0, 0, 0))
    first_open = next((i for i, m in enumerate(months) if m not in stored), len(months))
    if first_open == len(months):
        # Nothing to compute: an empty ledger, or every month shown closed (a past ``now``).
        return [
            MonthFigures(
                month=m,
                issued=stored[m].issued,
                redeemed=stored[m].redeemed,
                liability=stored[m].liability,
                at=now if m == months[-1] else m.ends_at,
                current=m == months[-1],
            )
            for m in months
        ]
    issuance = ledger.scheme_account(session, ledger.ISSUANCE).id
    since_at = months[first_open].starts_at
    # OFFSET 0 keeps PostgreSQL from answering min(id) by walking the primary key from the
    # oldest entry (it reads the month's entries through the occurred_at index instead).
    ids = select(T_ENTRY.c.id).where(T_ENTRY.c.occurred_at >= since_at).offset(0).subquery()
    since_id = select(func.coalesce(func.min(ids.c.id), 2**62)).scalar_subquery()
    # Only the open months are bucketed: each CASE branch is evaluated per posting read.
    bucket = _bucket(months[first_open:], first_open).label("bucket")
    is_liability = T_ACCOUNT.c.type.in_(LIABILITY_TYPES)
    rows = session.execute(
        select(
            bucket,
            func.sum(
                case(
                    (
                        and_(
                            T_ENTRY.c.kind == ledger.EntryKind.EARN.value,
                            T_POSTING.c.account_id == issuance,
                        ),
                        -T_POSTING.c.amount,
                    ),
                    else_=0,
                )
            ).label("issued"),
            func.sum(
                case(
                    (
                        and_(
                            T_ENTRY.c.kind == ledger.EntryKind.REDEEM.value,
                            T_ACCOUNT.c.type == ledger.AccountType.SHOP.value,
                        ),
                        T_POSTING.c.amount,
                    ),
                    else_=0,
                )
            ).label("redeemed"),
            func.sum(case((is_liability, T_POSTING.c.amount), else_=0)).label("liability_change"),
        )
        .select_from(T_ENTRY)
        .join(T_POSTING, T_POSTING.c.entry_id == T_ENTRY.c.id)
        .join(T_ACCOUNT, T_ACCOUNT.c.id == T_POSTING.c.account_id)
        .where(
            T_ENTRY.c.occurred_at >= since_at,
            # A planner hint (the dates still decide): entries are numbered in the order
            # they are written, so PostgreSQL can read just these postings through the
            # (entry_id, account_id) index instead of hashing the whole posting table.
            T_ENTRY.c.id >= since_id,
            T_POSTING.c.entry_id >= since_id,
        )
        .group_by(bucket)
    ).all()
    flows = {
        int(r.bucket): (int(r.issued or 0), int(r.redeemed or 0), int(r.liability_change or 0))
        for r in rows
    }
    liability_now = int(
        session.execute(
            select(func.coalesce(func.sum(T_BALANCE.c.balance), 0))
            .select_from(T_BALANCE)
            .join(T_ACCOUNT, T_ACCOUNT.c.id == T_BALANCE.c.account_id)
            .where(is_liability)
        ).scalar_one()
    )
    # Walk back from now: the liability at the end of month i is today's minus everything
    # posted to it after that month ended (entries dated after now are impossible: the
    # ledger refuses them, and the -1 bucket holds only the current month's later ones).
    out: list[MonthFigures] = []
    after = flows.get(-1, (0, 0, 0))[2]
    for i in range(len(months) - 1, first_open - 1, -1):
        issued, redeemed, change = flows.get(i, (0, 0, 0))
        current = i == len(months) - 1
        out.append(
            MonthFigures(
                month=months[i],
                issued=issued,
                redeemed=redeemed,
                liability=liability_now - after,
                at=now if current else months[i].ends_at,
                current=current,
            )
        )
        after += change
    for i in range(first_open - 1, -1, -1):
        figures = stored[months[i]]
        out.append(
            MonthFigures(
                month=months[i],
                issued=figures.issued,
                redeemed=figures.redeemed,
                liability=figures.liability,
                at=months[i].ends_at,
                current=False,
            )
        )
    return list(reversed(out))


def _month_range(month: Month) -> Any:
    return and_(T_ENTRY.c.occurred_at >= month.starts_at, T_ENTRY.c.occurred_at < month.ends_at)


def issued_by_activity(session: Session, month: Month) -> list[Share]:
    """Credits issued in ``month`` per activity (earn entries without an award — seeded or
    imported — are shown as one line with ``ref`` None), largest first."""
    issuance = ledger.scheme_account(session, ledger.ISSUANCE).id
    total = func.sum(-T_POSTING.c.amount).label("credits")
    rows = session.execute(
        select(T_ACTIVITY.c.slug, T_ACTIVITY.c.name, total)
        .select_from(T_ENTRY)
        .join(T_POSTING, T_POSTING.c.entry_id == T_ENTRY.c.id)
        .outerjoin(T_AWARD, T_AWARD.c.entry_id == T_ENTRY.c.id)
        .outerjoin(T_ACTIVITY, T_ACTIVITY.c.id == T_AWARD.c.activity_id)
        .where(
            _month_range(month),
            T_ENTRY.c.kind == ledger.EntryKind.EARN.value,
            T_POSTING.c.account_id == issuance,
        )
        .group_by(T_ACTIVITY.c.slug, T_ACTIVITY.c.name)
        .order_by(total.desc(), T_ACTIVITY.c.name)
    ).all()
    return [Share(r.name or "No activity recorded", int(r.credits), r.slug) for r in rows]


def redeemed_by_shop(session: Session, month: Month) -> list[Share]:
    """Credits redeemed in ``month`` per shop (redeem entries' shop postings), largest
    first."""
    total = func.sum(T_POSTING.c.amount).label("credits")
    rows = session.execute(
        select(T_SHOP.c.id, T_SHOP.c.name, total)
        .select_from(T_ENTRY)
        .join(T_POSTING, T_POSTING.c.entry_id == T_ENTRY.c.id)
        .join(T_SHOP, T_SHOP.c.ledger_account_id == T_POSTING.c.account_id)
        .where(_month_range(month), T_ENTRY.c.kind == ledger.EntryKind.REDEEM.value)
        .group_by(T_SHOP.c.id, T_SHOP.c.name)
        .order_by(total.desc(), T_SHOP.c.name)
    ).all()
    return [Share(r.name, int(r.credits), int(r.id)) for r in rows]


def expiring_vouchers(session: Session, now: datetime | None = None) -> Expiring:
    """Open vouchers whose validity ends within the next 14 days: how many, and their value
    (``ix_voucher_state_expires_at``)."""
    now = now or utcnow()
    until = now + timedelta(days=EXPIRING_DAYS)
    count, credits = session.execute(
        select(func.count(), func.coalesce(func.sum(T_VOUCHER.c.face_value), 0)).where(
            T_VOUCHER.c.state == "open",
            T_VOUCHER.c.expires_at >= now,
            T_VOUCHER.c.expires_at < until,
        )
    ).one()
    return Expiring(int(count), int(credits), until)


def officer_actions(session: Session, limit: int = 8) -> list[AuditEvent]:
    """The latest audit events done by someone acting as an officer or admin."""
    query = (
        select(AuditEvent)
        .where(
            or_(
                T_AUDIT.c.actor.like("% as officer via %"),
                T_AUDIT.c.actor.like("% as admin via %"),
            )
        )
        .order_by(T_AUDIT.c.occurred_at.desc(), T_AUDIT.c.id.desc())
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def adjustments_summary(session: Session) -> tuple[int, int]:
    """Pending adjustments: how many, and how many credits they would move."""
    count, credits = session.execute(
        select(func.count(), func.coalesce(func.sum(T_ADJUSTMENT.c.amount), 0)).where(
            T_ADJUSTMENT.c.state == "pending"
        )
    ).one()
    return int(count), int(credits)


@dataclass(frozen=True, slots=True)
class Attention:
    """The counts on the officer home page's cards: people by status, registrations ready
    to approve, working API tokens, failed sign-ins in the last day, active shops and
    active terminals that never connected."""

    people_by_status: dict[str, int]
    ready_to_approve: int
    active_tokens: int
    failures_24h: int
    shop_count: int
    terminals_never_seen: int


def attention(session: Session, now: datetime | None = None) -> Attention:
    """What needs an officer's attention, counted for the home page's cards."""
    t_person = Person.__table__  # type: ignore[attr-defined]
    t_token = ApiToken.__table__  # type: ignore[attr-defined]
    t_terminal = Terminal.__table__  # type: ignore[attr-defined]
    since = (now or utcnow()) - timedelta(days=1)
    by_status = session.execute(
        select(t_person.c.status, func.count()).group_by(t_person.c.status)
    ).all()

    def count(*where: Any) -> int:
        return int(session.execute(select(func.count()).where(*where)).scalar_one())

    return Attention(
        people_by_status={str(status): int(n) for status, n in by_status},
        ready_to_approve=count(
            t_person.c.status == PersonStatus.PENDING.value,
            t_person.c.email_confirmed_at.is_not(None),
        ),
        active_tokens=count(t_token.c.revoked_at.is_(None)),
        failures_24h=count(
            T_AUDIT.c.action == "auth.sign_in_failed", T_AUDIT.c.occurred_at >= since
        ),
        shop_count=count(T_SHOP.c.active.is_(True)),
        terminals_never_seen=count(
            t_terminal.c.active.is_(True), t_terminal.c.last_seen_at.is_(None)
        ),
    )
