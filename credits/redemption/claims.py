"""Offline claims on vouchers that were no longer open: the bounding rule (docs/redemption.md).

An offline acceptance is the shop's claim that it could not reach the ledger. As card
schemes do with floor limits and the hot-card list, the scheme guarantees an offline
acceptance — pays the shop although the voucher turned out spent or cancelled — only when
the shop followed the offline rules and could not have known. The ledger decides on facts it
recorded itself, never on the terminal's word:

- S: when the ledger closed the voucher (``voucher.closed_at``);
- F: the ``as_of`` of the last spent list the ledger gave this terminal
  (``terminal.spent_list_at``, set by ``GET /terminal/spent-vouchers``): every voucher closed
  before F was on the terminal's list;
- its own online refusals of the voucher to this shop (``redemption_refusal``);
- the claims already recorded on the voucher, and the terminal's exceptions paid this month.

T (``offline_accepted_at``) is the terminal's claim. It is bounded before anything moves
(I − 5 min ≤ T ≤ now + 5 min, T ≥ now − 30 days, I the issue time; credits.redemption.service)
but never trusted to decide: a rule such as "T must be before S" would only hurt honest
shops, because a dishonest terminal reads S from the 409 body and claims an earlier T.

Invariants (tested; the first two also checked by ``credits verify``):

1. At most one claim per voucher pays or may pay (``paid`` or ``held``): checked here under the
   voucher's row lock, and enforced by the unique partial index
   ``uq_redemption_exception_voucher_id_paying``.
2. A paid claim has exactly one balanced entry: adjustments −amount, shop +amount, for at most
   the terminal's floor limit (checked before a claim is judged).
3. So whatever terminals send, in any order, the scheme pays shops at most the voucher's face
   value (its redemption) plus one exception bounded by a floor limit.
4. Every claim is recorded with its terminal's idempotency key: the same key and body replay
   its first answer (201 paid, 202 held, or its 409).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.db import utcnow
from credits.errors import Conflict, CreditsError, NotFound, ValidationFailed
from credits.ledger import Month
from credits.redemption.models import (
    PAYING_STATUSES,
    ClaimRule,
    ClaimStatus,
    Redemption,
    RedemptionException,
    RedemptionRefusal,
)
from credits.redemption.service import (
    RedeemResult,
    TerminalInfo,
    already_redeemed,
    exception_body,
    insert_row,
)
from credits.shops.models import Shop, Terminal
from credits.vouchers.code import reference
from credits.vouchers.errors import AlreadyRedeemed, VoucherCancelled, VoucherNotFound
from credits.vouchers.models import Voucher, VoucherState

#: How fresh a terminal's spent list must be when it accepts a voucher offline: F ≥ T − 24 h.
SPENT_LIST_MAX_AGE = timedelta(hours=24)
#: How long an officer's reason may be.
MAX_REASON_CHARS = 500

T_CLAIM = RedemptionException.__table__  # type: ignore[attr-defined]
T_VOUCHER = Voucher.__table__  # type: ignore[attr-defined]
T_TERMINAL = Terminal.__table__  # type: ignore[attr-defined]
T_REFUSAL = RedemptionRefusal.__table__  # type: ignore[attr-defined]

#: Each rule in words, for the 409's detail and the officers' queue.
RULE_WORDS = {
    ClaimRule.SAME_SHOP: "it was redeemed at this shop itself, so it is never an exception",
    ClaimRule.ALREADY_CLAIMED: (
        "another offline claim of it has already been paid or is held: "
        "a voucher gives at most one exception"
    ),
    ClaimRule.ON_SPENT_LIST: (
        "it was on this terminal's list of spent vouchers before the shop accepted it"
    ),
    ClaimRule.NO_FRESH_LIST: (
        "this terminal had no list of spent vouchers from the 24 hours before it accepted it"
    ),
    ClaimRule.TOLD_ONLINE: "the ledger had already told this shop, online, that it was spent",
    ClaimRule.MONTHLY_CEILING: (
        "this terminal's exceptions this month would pass its ceiling: held for an officer"
    ),
}


class ClaimNotHeld(Conflict):
    code = "claim_not_held"
    title = "That claim is not waiting for a decision"


@dataclass(frozen=True, slots=True)
class Claim:
    """An offline submission whose voucher was no longer open."""

    voucher_id: str
    amount: int
    accepted_at: datetime
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What the ledger knows when it judges a claim (all recorded by the ledger, except T)."""

    #: The voucher was redeemed by a terminal of the claiming shop.
    same_shop: bool
    #: The voucher already has a claim that pays or may pay.
    already_claimed: bool
    #: S: when the ledger closed the voucher.
    closed_at: datetime
    #: T: when the terminal says the shop accepted it.
    accepted_at: datetime
    #: F: the as_of of the last spent list the ledger gave the terminal (None: never).
    spent_list_at: datetime | None
    #: The ledger had refused the voucher online to this shop (it was told).
    told_online: bool
    #: The terminal's exceptions paid this month: (count, credits).
    paid_this_month: tuple[int, int]
    #: The terminal's monthly ceiling: (count, credits).
    ceiling: tuple[int, int]
    #: Credits claimed.
    amount: int


def decide(facts: Facts) -> tuple[ClaimStatus, ClaimRule | None]:
    """The bounding rule, in order: the first that applies decides.

    1. redeemed by this shop itself → refused (never an exception);
    2. the voucher already has a claim that pays or may pay → refused;
    3. the terminal could have known: the voucher was on its spent list (S < F), or it had no
       list fresh enough when it accepted (F missing, or F < T − 24 h) → refused;
    4. the ledger had told this shop online that it was closed → refused;
    5. above the terminal's monthly exception ceiling (count or credits) → held;
    6. otherwise → paid.
    """
    if facts.same_shop:
        return ClaimStatus.REFUSED, ClaimRule.SAME_SHOP
    if facts.already_claimed:
        return ClaimStatus.REFUSED, ClaimRule.ALREADY_CLAIMED
    listed_at = facts.spent_list_at
    if listed_at is not None and facts.closed_at < listed_at:
        return ClaimStatus.REFUSED, ClaimRule.ON_SPENT_LIST
    if listed_at is None or listed_at < facts.accepted_at - SPENT_LIST_MAX_AGE:
        return ClaimStatus.REFUSED, ClaimRule.NO_FRESH_LIST
    if facts.told_online:
        return ClaimStatus.REFUSED, ClaimRule.TOLD_ONLINE
    count, credits = facts.paid_this_month
    most_count, most_credits = facts.ceiling
    if count + 1 > most_count or credits + facts.amount > most_credits:
        return ClaimStatus.HELD, ClaimRule.MONTHLY_CEILING
    return ClaimStatus.PAID, None


def judge(session: Session, terminal: TerminalInfo, claim: Claim, *, now: datetime) -> RedeemResult:
    """Judge and record an offline claim on a closed voucher (in the caller's transaction).

    The voucher's row is locked first, so claims on one voucher are judged one after another
    (each sees the one before it); then the terminal's row, so its monthly count cannot be
    passed by two claims at once. Returns the 201 (paid) or 202 (held) answer, or a refusal
    to raise after the claim is committed.
    """
    voucher = session.execute(
        select(Voucher).where(T_VOUCHER.c.id == claim.voucher_id).with_for_update()
    ).scalar_one_or_none()
    if voucher is None:
        raise VoucherNotFound("there is no such voucher")
    assert voucher.state in (VoucherState.REDEEMED.value, VoucherState.CANCELLED.value)
    assert voucher.closed_at is not None
    term = session.execute(
        select(Terminal).where(T_TERMINAL.c.id == terminal.id).with_for_update()
    ).scalar_one()
    spent = None
    if voucher.state == VoucherState.REDEEMED.value:
        spent = session.execute(
            select(Redemption).where(Redemption.voucher_id == voucher.id)  # type: ignore[arg-type]
        ).scalar_one_or_none()
    month = Month.containing(now)
    facts = Facts(
        same_shop=spent is not None and spent.shop_id == terminal.shop_id,
        already_claimed=_has_paying_claim(session, voucher.id),
        closed_at=voucher.closed_at,
        accepted_at=claim.accepted_at,
        spent_list_at=term.spent_list_at,
        told_online=session.execute(
            select(func.count())
            .select_from(T_REFUSAL)
            .where(T_REFUSAL.c.voucher_id == voucher.id, T_REFUSAL.c.shop_id == terminal.shop_id)
        ).scalar_one()
        > 0,
        paid_this_month=paid_in_month(session, terminal.id, month),
        ceiling=(term.exceptions_per_month, term.exception_credits_per_month),
        amount=claim.amount,
    )
    status, rule = decide(facts)
    redeemed = voucher.state == VoucherState.REDEEMED.value
    reason = "already_redeemed" if redeemed else "voucher_cancelled"
    if spent is not None:
        told = already_redeemed(session, voucher.id)
        where = told.extra.get("shop_name", "another shop")
        what = f"already spent at {where} on {told.extra.get('redeemed_at', 'an earlier date')}"
    elif redeemed:
        what = "already spent"
    else:
        what = "cancelled by the member before the terminal came back online"
    ref = reference(bytes.fromhex(voucher.id))
    detail = f"Voucher {ref}: {what}" + (f"; {RULE_WORDS[rule]}" if rule else "")
    row = RedemptionException(
        id=secrets.token_hex(16),
        voucher_id=voucher.id,
        shop_id=terminal.shop_id,
        terminal_id=terminal.id,
        person_id=voucher.person_id,
        amount=claim.amount,
        reason=reason,
        detail=detail[:500],
        status=status.value,
        rule=rule.value if rule else None,
        offline_accepted_at=claim.accepted_at,
        submitted_at=now,
        idempotency_key=claim.key,
        request_hash=claim.request_hash,
    )
    if status is ClaimStatus.PAID:
        entry = _pay_entry(
            session,
            row,
            shop_account_id=terminal.shop_account_id,
            actor=terminal.actor,
            key=f"redemption-exception:{claim.key}",
            now=now,
        )
        row.entry_id, row.paid_at = entry.id, now
    insert_row(session, row)
    if status is not ClaimStatus.REFUSED:
        audit.record(
            session,
            audit.Actor.system(f"terminal:{terminal.id}"),
            "redemption.exception",
            f"voucher:{voucher.id}",
            shop_id=terminal.shop_id,
            person_id=voucher.person_id,
            amount=claim.amount,
            reason=reason,
            status=status.value,
        )
    return first_answer(session, row)


def first_answer(
    session: Session, row: RedemptionException, *, replayed: bool = False
) -> RedeemResult:
    """What a claim answered when it was first judged (a replay answers the same)."""
    if row.status == ClaimStatus.REFUSED.value:
        return RedeemResult(refusal=claim_refusal(session, row), replayed=replayed)
    # A claim an officer paid or declined was first answered "held".
    if row.status in (ClaimStatus.HELD.value, ClaimStatus.DECLINED.value) or (
        row.status == ClaimStatus.PAID.value and row.decided_at is not None
    ):
        return RedeemResult(exception_body(row, held=True), replayed=replayed, status=202)
    return RedeemResult(exception_body(row), replayed=replayed)


def claim_refusal(session: Session, row: RedemptionException) -> CreditsError:
    """The 409 of a refused claim: the voucher's fate as the contract names it
    (``already_redeemed`` with where and when, or ``voucher_cancelled``), the rule in words,
    and the claim (extension: ``claim`` with ``id``, ``status``, ``rule``)."""
    assert row.rule is not None
    words = RULE_WORDS[ClaimRule(row.rule)]
    claim = {"id": row.id, "status": row.status, "rule": row.rule}
    if row.reason == "already_redeemed":
        spent = already_redeemed(session, row.voucher_id)
        return AlreadyRedeemed(f"{spent.detail}; {words}", **spent.extra, claim=claim)
    return VoucherCancelled(f"this voucher was cancelled by its owner; {words}", claim=claim)


def record_online_refusal(
    session: Session, terminal: TerminalInfo, voucher_id: str, code: str, *, now: datetime
) -> None:
    """Remember that the ledger told this shop, online, that the voucher is closed (the
    first time only; written in the transaction that answers the refusal)."""
    values = {
        "voucher_id": voucher_id,
        "shop_id": terminal.shop_id,
        "terminal_id": terminal.id,
        "code": code,
        "refused_at": now,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(T_REFUSAL)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["voucher_id", "shop_id"])
    )


def paid_in_month(session: Session, terminal_id: int, month: Month) -> tuple[int, int]:
    """A terminal's exceptions paid in a London month: (count, credits)."""
    count, credits = session.execute(
        select(func.count(), func.coalesce(func.sum(T_CLAIM.c.amount), 0)).where(
            T_CLAIM.c.terminal_id == terminal_id,
            T_CLAIM.c.paid_at >= month.starts_at,
            T_CLAIM.c.paid_at < month.ends_at,
        )
    ).one()
    return int(count), int(credits)


def _has_paying_claim(session: Session, voucher_id: str) -> bool:
    return (
        session.execute(
            select(T_CLAIM.c.id).where(
                T_CLAIM.c.voucher_id == voucher_id, T_CLAIM.c.status.in_(PAYING_STATUSES)
            )
        ).first()
        is not None
    )


def _pay_entry(
    session: Session,
    row: RedemptionException,
    *,
    shop_account_id: int,
    actor: str,
    key: str,
    now: datetime,
) -> ledger.PostedEntry:
    ref = reference(bytes.fromhex(row.voucher_id))
    return ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=ledger.EntryKind.ADJUSTMENT,
            legs=(
                ledger.Leg(ledger.scheme_account(session, ledger.ADJUSTMENTS).id, -row.amount),
                ledger.Leg(shop_account_id, row.amount),
            ),
            memo=f"Voucher {ref} accepted offline at shop {row.shop_id} but {row.reason}: "
            "the scheme pays the shop",
            actor=actor,
            idempotency_key=key,
        ),
        now=now,
    )


# --- officers' decisions on held claims ------------------------------------------------------


def _held(session: Session, claim_id: str) -> RedemptionException:
    row = None
    if len(claim_id) == 32 and all(c in "0123456789abcdef" for c in claim_id):
        row = session.execute(
            select(RedemptionException).where(T_CLAIM.c.id == claim_id).with_for_update()
        ).scalar_one_or_none()
    if row is None:
        raise NotFound("there is no such claim")
    if row.status != ClaimStatus.HELD.value:
        raise ClaimNotHeld(f"this claim is {row.status}, not waiting for a decision")
    return row


def _reason(text: str | None, *, required: bool) -> str | None:
    cleaned = " ".join((text or "").split())
    if len(cleaned) > MAX_REASON_CHARS or (required and not cleaned):
        raise ValidationFailed(
            f"say why (at most {MAX_REASON_CHARS} characters)", errors={"reason": ["Required."]}
        )
    return cleaned or None


def pay_held(
    session: Session,
    by: Any,
    claim_id: str,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> RedemptionException:
    """An officer pays a held claim: one balanced entry (adjustments −amount, shop +amount),
    posted in the open month; the claim becomes ``paid``. Audited."""
    note = _reason(reason, required=False)
    row = _held(session, claim_id)
    now = now or utcnow()
    shop = session.get(Shop, row.shop_id)
    assert shop is not None and shop.ledger_account_id is not None
    entry = _pay_entry(
        session,
        row,
        shop_account_id=shop.ledger_account_id,
        actor=by.actor,
        key=f"redemption-exception-paid:{row.id}",
        now=now,
    )
    row.status = ClaimStatus.PAID.value
    row.entry_id, row.paid_at = entry.id, now
    row.decided_at, row.decided_by, row.decision_reason = now, by.actor, note
    session.add(row)
    session.flush()
    audit.record(
        session,
        by,
        "redemption.exception_pay",
        f"exception:{row.id}",
        shop_id=row.shop_id,
        amount=row.amount,
        voucher=reference(bytes.fromhex(row.voucher_id)),
        reason=note,
    )
    return row


def decline_held(
    session: Session, by: Any, claim_id: str, *, reason: str, now: datetime | None = None
) -> RedemptionException:
    """An officer declines a held claim, with a reason: nothing is paid; the claim becomes
    ``declined`` (and no longer counts as the voucher's one paying claim). Audited."""
    note = _reason(reason, required=True)
    row = _held(session, claim_id)
    now = now or utcnow()
    row.status = ClaimStatus.DECLINED.value
    row.decided_at, row.decided_by, row.decision_reason = now, by.actor, note
    session.add(row)
    session.flush()
    audit.record(
        session,
        by,
        "redemption.exception_decline",
        f"exception:{row.id}",
        shop_id=row.shop_id,
        amount=row.amount,
        voucher=reference(bytes.fromhex(row.voucher_id)),
        reason=note,
    )
    return row
