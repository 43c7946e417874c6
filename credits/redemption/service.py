"""Redeeming vouchers at partner shops (docs/api-terminal.md).

Invariants (each tested; the first two also checked by `credits verify`):

1. A voucher is redeemed at most once: the redemption claims it with the vouchers
   capability's one conditional UPDATE (``… WHERE state = 'open'``), its ledger entry has the
   voucher's closing key (``voucher-close:<id>``, unique in the ledger), and
   ``redemption.voucher_id`` is unique. Of any number of concurrent attempts from any number
   of terminals, one succeeds and every other gets ``already_redeemed`` (with the shop and
   time).
2. The redeem entry moves exactly the voucher's face value out of vouchers outstanding: the
   amount taken to the shop, the change (face − amount) back to the member, in one balanced
   entry, in the same transaction as the claim and the redemption row.
3. A terminal's retry with the same idempotency key and body gets the first answer and moves
   nothing; with another body it gets ``idempotency_conflict``. A refused online request is
   not remembered (sending it again is evaluated afresh); an offline claim is (invariant 4).
4. An offline acceptance whose voucher was meanwhile spent or cancelled is a *claim*, judged
   by the bounding rule (credits.redemption.claims; docs/redemption.md): the scheme pays the
   shop (an exception: adjustments −amount, shop +amount, within the floor limit) only when
   the shop followed the offline rules and could not have known; at most one claim per
   voucher pays; above the terminal's monthly ceiling a claim is held for an officer.
   Every claim is recorded, paid, held or refused, and keeps its key.
5. Redemptions are dated when the ledger records them (an offline acceptance keeps its own
   time on the row), so a closed month never leaves a shop unpaid.
6. An online refusal of a closed voucher is recorded (``redemption_refusal``): the ledger
   told that shop the voucher was spent, so its offline claim of it afterwards is refused.

The full use case runs in Python on any database (:func:`redeem`). On PostgreSQL the common
case — an online redemption — runs as one statement (``redeem_voucher``, migrations 0012
and 0018): one round trip instead of eight, which is what lets a 2-core server take a
thousand redemptions a second (docs/benchmarks.md). Both are exercised by the whole test
suite.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.identity import Principal
from credits.accounts.models import ApiToken
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.errors import CreditsError, Forbidden, Unauthorized, ValidationFailed
from credits.ledger.chain import epoch_us
from credits.redemption.errors import AmountExceedsVoucher, OfflineLimitExceeded
from credits.redemption.models import Redemption, RedemptionException
from credits.shops.models import Shop, Terminal
from credits.vouchers.code import VoucherClaims, reference
from credits.vouchers.errors import AlreadyRedeemed, VoucherCancelled, VoucherNotOpen
from credits.vouchers.keys import KeyRing
from credits.vouchers.models import Voucher, VoucherState
from credits.vouchers.service import (
    attach_closing_entry,
    check_client_key,
    claim_open_voucher,
    closing_key,
    verify_voucher_code,
)

#: The clock allowance (eps): how far a terminal's offline_accepted_at may lie ahead of the
#: ledger's clock, or before the voucher's issue time.
MAX_OFFLINE_CLOCK_SKEW = timedelta(minutes=5)
#: How long after acceptance a terminal may still submit an offline redemption.
MAX_OFFLINE_AGE = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class RedeemRequest:
    """What a terminal sends: the code, an optional amount, its key, and (offline only) when
    the shop accepted the voucher."""

    code: str
    amount: int | None
    client_key: str
    offline_accepted_at: datetime | None = None

    def fingerprint(self) -> str:
        """SHA-256 of what was asked (the same key must come with the same request)."""
        body = {
            "code": self.code,
            "amount": self.amount,
            "offline_accepted_at": (
                None if self.offline_accepted_at is None else epoch_us(self.offline_accepted_at)
            ),
        }
        blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True, slots=True)
class TerminalInfo:
    """The redeeming terminal and its shop, as a redemption needs them."""

    id: int
    name: str
    shop_id: int
    shop_name: str
    shop_account_id: int
    floor_limit: int
    actor: str


def scoped_key(terminal_id: int, client_key: str) -> str:
    """A terminal's idempotency key, scoped to it (two terminals never meet)."""
    return f"redemption:{terminal_id}:{client_key}"


def terminal_info(session: Session, principal: Principal) -> TerminalInfo:
    """The terminal behind a terminal principal, re-checked in the caller's transaction: its
    token still live, the terminal and its shop active (the principal may come from a
    worker's short token cache, and revocation must stop redemptions at once)."""
    if principal.terminal_id is None:
        raise Forbidden("only a shop's terminal can redeem vouchers")
    token = session.get(ApiToken, principal.token_id) if principal.token_id else None
    terminal = session.get(Terminal, principal.terminal_id)
    shop = session.get(Shop, terminal.shop_id) if terminal is not None else None
    if (
        token is None
        or token.revoked_at is not None
        or token.terminal_id != principal.terminal_id
        or terminal is None
        or not terminal.active
        or shop is None
        or not shop.active
    ):
        raise Unauthorized("this terminal's token no longer works; ask the council for a new one")
    assert shop is not None and shop.ledger_account_id is not None
    assert terminal.id is not None and shop.id is not None
    return TerminalInfo(
        id=terminal.id,
        name=terminal.name,
        shop_id=shop.id,
        shop_name=shop.name,
        shop_account_id=shop.ledger_account_id,
        floor_limit=terminal.floor_limit,
        actor=principal.actor,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def redemption_body(row: Redemption) -> dict[str, Any]:
    """The 201 body of a redemption (also what a replay returns)."""
    return {
        "id": row.id,
        "voucher_id": row.voucher_id,
        "amount": row.amount,
        "change": row.change,
        "shop_id": row.shop_id,
        "redeemed_at": _iso(row.redeemed_at),
        "status": "redeemed",
        "offline": row.offline_accepted_at is not None,
        "terminal_id": row.terminal_id,
        "reversed": row.reversed_at is not None,
    }


def exception_body(row: RedemptionException, *, held: bool = False) -> dict[str, Any]:
    """The body of an offline claim that was paid (201, status ``exception``) or held for an
    officer (202, status ``held``)."""
    return {
        "id": row.id,
        "voucher_id": row.voucher_id,
        "amount": row.amount,
        "change": 0,
        "shop_id": row.shop_id,
        "redeemed_at": _iso(row.submitted_at),
        "status": "held" if held else "exception",
        "offline": True,
        "terminal_id": row.terminal_id,
        "exception": {"id": row.id, "reason": row.reason, "detail": row.detail},
    }


@dataclass(frozen=True, slots=True)
class RedeemResult:
    """A redemption's answer: ``body`` with HTTP ``status`` (201, or 202 for a held claim),
    or ``refusal``, an error the caller raises *after* committing — the transaction recorded
    something the refusal must not roll back (a refused claim, an online refusal)."""

    body: dict[str, Any] | None = None
    replayed: bool = False
    status: int = 201
    refusal: CreditsError | None = None

    def answer(self) -> dict[str, Any]:
        """The body, or raise the refusal."""
        if self.refusal is not None:
            raise self.refusal
        assert self.body is not None
        return self.body


def find_replay(session: Session, key: str, request_hash: str) -> RedeemResult | None:
    """The first answer to this terminal's key, or None; a different request with the same
    key is an :class:`~credits.errors.IdempotencyConflict`. A recorded claim replays what it
    first answered: 201 paid, 202 held (even once an officer decided), or its 409."""
    from credits.errors import IdempotencyConflict
    from credits.redemption.claims import first_answer

    for model in (Redemption, RedemptionException):
        row = session.execute(
            select(model).where(model.idempotency_key == key)  # type: ignore[attr-defined]
        ).scalar_one_or_none()
        if row is not None:
            if row.request_hash != request_hash:
                raise IdempotencyConflict(
                    "this idempotency key was already used for a different redemption"
                )
            if isinstance(row, Redemption):
                return RedeemResult(redemption_body(row), replayed=True)
            return first_answer(session, row, replayed=True)
    return None


def check_request(claims: VoucherClaims, request: RedeemRequest, terminal: TerminalInfo) -> int:
    """The amount to take, after the checks that need only the code: at most the face value,
    and offline at most the terminal's floor limit."""
    amount = claims.face_value if request.amount is None else request.amount
    if amount > claims.face_value:
        raise AmountExceedsVoucher(
            f"this voucher is for {claims.face_value} credits; {amount} cannot be taken from it",
            face_value=claims.face_value,
        )
    if request.offline_accepted_at is not None and amount > terminal.floor_limit:
        raise OfflineLimitExceeded(
            f"{amount} credits is above this terminal's offline limit of {terminal.floor_limit}",
            floor_limit=terminal.floor_limit,
        )
    return amount


def judge_time(request: RedeemRequest, now: datetime) -> datetime:
    """When the voucher's validity is judged: now, or when the shop accepted it offline."""
    accepted = request.offline_accepted_at
    if accepted is None:
        return now
    if accepted > now + MAX_OFFLINE_CLOCK_SKEW:
        raise ValidationFailed(
            "offline_accepted_at is in the future: check the terminal's clock",
            errors={"offline_accepted_at": ["In the future."]},
        )
    if accepted < now - MAX_OFFLINE_AGE:
        raise ValidationFailed(
            f"offline redemptions must be submitted within {MAX_OFFLINE_AGE.days} days",
            errors={"offline_accepted_at": ["Too long ago."]},
        )
    return accepted


def check_after_issue(session: Session, voucher_id: str, accepted: datetime) -> None:
    """An offline acceptance cannot predate the voucher (less the clock allowance): 422
    ``validation_error`` on ``offline_accepted_at``, before anything moves."""
    issued = session.execute(
        select(Voucher.issued_at).where(Voucher.id == voucher_id)  # type: ignore[call-overload]
    ).scalar_one_or_none()
    if issued is not None and accepted < issued - MAX_OFFLINE_CLOCK_SKEW:
        raise ValidationFailed(
            "offline_accepted_at is before the voucher was issued: check the terminal's clock",
            errors={"offline_accepted_at": ["Before the voucher was issued."]},
        )


def already_redeemed(session: Session, voucher_id: str) -> AlreadyRedeemed:
    """The refusal for a spent voucher, saying where and when (contract: shop_id,
    redeemed_at; extension: shop_name)."""
    row = session.execute(
        select(Redemption.shop_id, Redemption.redeemed_at, Shop.name)  # type: ignore[call-overload]
        .join(Shop, Shop.id == Redemption.shop_id)
        .where(Redemption.voucher_id == voucher_id)
    ).first()
    if row is None:  # closed by a redemption recorded before this table (cannot happen)
        return AlreadyRedeemed("this voucher has already been spent")
    shop_id, at, name = row
    return AlreadyRedeemed(
        f"this voucher was already used at {name}",
        shop_id=shop_id,
        shop_name=name,
        redeemed_at=_iso(at),
    )


def redeem(
    session: Session,
    terminal: TerminalInfo,
    request: RedeemRequest,
    *,
    keyring: KeyRing,
    now: datetime | None = None,
) -> RedeemResult:
    """Redeem a voucher at ``terminal`` (the whole use case, in the caller's transaction).

    Returns the answer (or the first answer to the same key). Refusals that change nothing
    raise the contract's errors. Two kinds of refusal are recorded, so they come back as
    ``RedeemResult.refusal`` for the caller to raise after committing: an online request for
    a closed voucher (the shop has now been told), and an offline claim the bounding rule
    refuses. An offline acceptance of a spent or cancelled voucher is judged by
    :func:`credits.redemption.claims.judge`: paid (201, status ``exception``), held (202,
    status ``held``) or refused (409).
    """
    now = now or utcnow()
    client_key = check_client_key(request.client_key)
    key = scoped_key(terminal.id, client_key)
    request_hash = request.fingerprint()
    replay = find_replay(session, key, request_hash)
    if replay is not None:
        return replay
    valid_at = judge_time(request, now)
    claims = verify_voucher_code(keyring, request.code, now=valid_at)
    amount = check_request(claims, request, terminal)
    voucher_id = claims.voucher_id_hex
    if request.offline_accepted_at is not None:
        check_after_issue(session, voucher_id, request.offline_accepted_at)
    try:
        voucher = claim_open_voucher(
            session,
            voucher_id,
            VoucherState.REDEEMED,
            actor=terminal.actor,
            now=now,
            valid_at=valid_at,
        )
    except (AlreadyRedeemed, VoucherCancelled, VoucherNotOpen) as refusal:
        # The same key may have just won on another connection: answer as it did.
        replay = find_replay(session, key, request_hash)
        if replay is not None:
            return replay
        # Imported here: the bounding rule builds on this module's answers.
        from credits.redemption import claims as offline_claims

        if request.offline_accepted_at is not None:
            if isinstance(refusal, VoucherNotOpen):
                raise  # expired and returned to the member: no claim on it
            return offline_claims.judge(
                session,
                terminal,
                offline_claims.Claim(
                    voucher_id=voucher_id,
                    amount=amount,
                    accepted_at=request.offline_accepted_at,
                    key=key,
                    request_hash=request_hash,
                ),
                now=now,
            )
        told: CreditsError = refusal
        if isinstance(refusal, AlreadyRedeemed):
            told = already_redeemed(session, voucher_id)
        # The ledger tells this shop the voucher is closed: remember it (rule 4).
        offline_claims.record_online_refusal(session, terminal, voucher_id, told.code, now=now)
        return RedeemResult(refusal=told)
    change = voucher.face_value - amount
    legs = [
        ledger.Leg(_vouchers_outstanding(session), -voucher.face_value),
        ledger.Leg(terminal.shop_account_id, amount),
    ]
    if change:
        legs.append(ledger.Leg(voucher.account_id, change))
    entry = ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=ledger.EntryKind.REDEEM,
            legs=tuple(legs),
            memo=redeem_memo(voucher_id, terminal.shop_id, offline=request.offline_accepted_at),
            actor=terminal.actor,
            idempotency_key=closing_key(voucher_id),
        ),
        now=now,
    )
    attach_closing_entry(session, voucher_id, entry.id)
    row = Redemption(
        id=secrets.token_hex(16),
        voucher_id=voucher_id,
        shop_id=terminal.shop_id,
        terminal_id=terminal.id,
        face_value=voucher.face_value,
        amount=amount,
        change=change,
        redeemed_at=now,
        offline_accepted_at=request.offline_accepted_at,
        entry_id=entry.id,
        idempotency_key=key,
        request_hash=request_hash,
        actor=terminal.actor,
    )
    insert_row(session, row)
    return RedeemResult(redemption_body(row))


def redeem_memo(voucher_id: str, shop_id: int, *, offline: datetime | None = None) -> str:
    """The memo of a redeem entry (ASCII: the database computes a fingerprint over it)."""
    ref = reference(bytes.fromhex(voucher_id))
    how = " (accepted offline)" if offline is not None else ""
    return f"Voucher {ref} redeemed at shop {shop_id}{how}"


def _vouchers_outstanding(session: Session) -> int:
    return ledger.scheme_account(session, ledger.VOUCHERS_OUTSTANDING).id


def insert_row(session: Session, row: Redemption | RedemptionException) -> None:
    """Insert a redemption or a claim; a concurrent twin (same key, or a second claim that
    pays on one voucher) makes the whole use case run again, and the retry answers as the
    winner did."""
    session.add(row)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "idempotency_key"):
            raise RetryTransaction("same key, concurrent request: the retry replays") from exc
        if unique_violation(exc, "redemption_exception.voucher_id") or unique_violation(
            exc, "uq_redemption_exception_voucher_id_paying"
        ):
            raise RetryTransaction("a concurrent claim on this voucher: the retry judges") from exc
        raise
