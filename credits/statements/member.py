"""A member's one-page balance statement, for a volunteer without a smartphone.

What a coordinator or officer prints and hands over (or the member prints for themself):
the spendable balance and what is held in open vouchers, the latest earning and spending,
and the open vouchers with their references (what to quote to have one cancelled if lost).
Everything is read in one transaction, so the figures agree with each other.

Who may read whose statement (:func:`may_read`): an officer anyone's; a coordinator the
members of the active groups they run; a member their own. Anyone else is told there is no
such member (``not_found``), as a voucher of someone else's is, so the page does not reveal
who is a member.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from credits.accounts import Person, Principal, Role
from credits.earning.history import HistoryItem, member_history
from credits.errors import NotFound
from credits.i18n import T
from credits.vouchers.models import VoucherState
from credits.vouchers.service import balance_summary, display_reference, list_vouchers

#: Lines of each list on the page: enough to recognise, few enough for one A4 page.
RECENT_LINES = 6
OPEN_VOUCHER_LINES = 8
#: Entries read to find the latest earning and spending lines among them.
SCAN_ENTRIES = 60


@dataclass(frozen=True)
class OpenVoucher:
    id: str
    reference: str
    amount: int
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class MemberStatement:
    """What the printed statement shows (module docstring)."""

    person_id: int
    name: str
    email: str
    balance: int
    in_vouchers: int
    earned: tuple[HistoryItem, ...]
    spent: tuple[HistoryItem, ...]
    open_vouchers: tuple[OpenVoucher, ...]
    more_open_vouchers: int


def may_read(session: Session, who: Principal, person_id: int) -> bool:
    """Whether ``who`` may read ``person_id``'s statement (module docstring)."""
    if who.role is Role.OFFICER:
        return True
    if who.role is Role.MEMBER:
        return who.person_id == person_id
    if who.role is Role.COORDINATOR and who.person_id is not None:
        from credits.earning.groups import coordinates_member

        return coordinates_member(session, who.person_id, person_id)
    return False


def member_statement(session: Session, who: Principal, person_id: int) -> MemberStatement:
    """The statement of ``person_id`` as ``who`` may read it; ``not_found`` for a person who
    is not a member, or whom ``who`` may not read."""
    person = session.get(Person, person_id)
    if person is None or person.ledger_account_id is None or not may_read(session, who, person_id):
        raise NotFound(T("there is no such member"))
    summary = balance_summary(session, person_id)
    items, _ = member_history(session, person_id, limit=SCAN_ENTRIES)
    earned = tuple(i for i in items if i.amount > 0)[:RECENT_LINES]
    spent = tuple(i for i in items if i.amount < 0)[:RECENT_LINES]
    vouchers = list_vouchers(
        session, person_id, states=[VoucherState.OPEN], limit=OPEN_VOUCHER_LINES + 1
    )
    return MemberStatement(
        person_id=person_id,
        name=person.name,
        email=person.email,
        balance=summary.balance,
        in_vouchers=summary.in_vouchers,
        earned=earned,
        spent=spent,
        open_vouchers=tuple(
            OpenVoucher(v.id, display_reference(v), v.face_value, v.issued_at, v.expires_at)
            for v in vouchers[:OPEN_VOUCHER_LINES]
        ),
        more_open_vouchers=max(0, summary.open_vouchers - OPEN_VOUCHER_LINES),
    )
