"""Voucher use cases: issue, show, cancel, expire, and the hooks redemption uses.

Invariants (checked by credits.vouchers.checks, run by `credits verify`):

1. The vouchers-outstanding account holds exactly the face values of the open vouchers.
   Issuing posts ``member −f, vouchers_outstanding +f`` in the same transaction that inserts
   the ``open`` row; every move out of ``open`` posts ``vouchers_outstanding −f`` in the same
   transaction as the conditional UPDATE that moves it.
2. A voucher leaves ``open`` at most once: the move is ``UPDATE … WHERE id = :id AND state =
   'open'`` (one winner under any concurrency), and its entry's idempotency key
   ``voucher-close:<id>`` is unique in the ledger (a second closing entry cannot be posted).
3. A member never spends more than they hold: the ledger's floored debit refuses it
   (InsufficientFunds), also when many requests race.
4. A client's retry (same idempotency key) returns the first voucher and posts nothing.

Lock order, for every use case here and for redemption: the voucher row first (the
conditional UPDATE), then the ledger's balance rows (post_entry). Issuing locks no voucher
row (it inserts a new one), so no two of these can wait on each other in a cycle.

Every function takes a session inside a unit of work (``db.run``) and never commits.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.models import Person, PersonStatus, Role
from credits.accounts.service import roles_of
from credits.config import Settings
from credits.db import Database, RetryTransaction, unique_violation, utcnow
from credits.errors import IdempotencyConflict, InsufficientFunds, ValidationFailed
from credits.i18n import T, Tn
from credits.paging import Window, window
from credits.vouchers.code import (
    MAX_EXPIRES_AT,
    MAX_FACE_VALUE,
    MAX_SCHEME_ID,
    MIN_FACE_VALUE,
    VoucherClaims,
    reference,
    sign_code,
    verify_code,
)
from credits.vouchers.errors import (
    AlreadyRedeemed,
    InvalidAmount,
    TooManyOpenVouchers,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotFound,
    VoucherNotOpen,
)
from credits.vouchers.keys import ACTIVE, RETIRED, REVOKED, KeyRing
from credits.vouchers.models import Voucher, VoucherState

log = logging.getLogger(__name__)

#: The client's idempotency key: 1-200 printable ASCII characters (contract v1).
MAX_CLIENT_KEY_CHARS = 200
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")
#: Longest voucher lifetime a deployment may configure (the code's u32 expiry is far off).
MAX_EXPIRY_DAYS = 3650
#: The most open vouchers one member may hold: far more than anyone needs, and a bound on
#: what a runaway client can create. Checked before posting (two racing requests may pass it
#: by one each; the ledger's balance floor still holds exactly).
MAX_OPEN_VOUCHERS = 50
#: How many vouchers one call of the expiry sweep closes per batch.
EXPIRE_BATCH = 500

T_VOUCHER = Voucher.__table__  # type: ignore[attr-defined]
V = T_VOUCHER.c


@dataclass(frozen=True)
class VoucherPolicy:
    """The scheme's voucher settings, checked once."""

    scheme_id: int = 1
    expiry_days: int = 90

    @classmethod
    def from_settings(cls, settings: Settings) -> VoucherPolicy:
        scheme_id, days = int(settings.scheme_id), int(settings.voucher_expiry_days)
        if not 0 <= scheme_id <= MAX_SCHEME_ID:
            raise ValueError(f"CREDITS_SCHEME_ID must be 0..{MAX_SCHEME_ID}, not {scheme_id}")
        if not 1 <= days <= MAX_EXPIRY_DAYS:
            raise ValueError(
                f"CREDITS_VOUCHER_EXPIRY_DAYS must be 1..{MAX_EXPIRY_DAYS}, not {days}"
            )
        return cls(scheme_id=scheme_id, expiry_days=days)


# --- input checks -------------------------------------------------------------------------


def check_amount(amount: Any) -> int:
    """A face value: a whole number of credits, 1..1,000,000. Floats, booleans, strings and
    anything out of range are refused (:class:`InvalidAmount`)."""
    if type(amount) is not int or not MIN_FACE_VALUE <= amount <= MAX_FACE_VALUE:
        raise InvalidAmount(
            T(
                "a voucher is for a whole number of credits from %(least)s to %(most)s",
                least=MIN_FACE_VALUE,
                most=MAX_FACE_VALUE,
            ),
            errors={
                "amount": [
                    T("Must be a whole number from 1 to %(most)s.", most=str(MAX_FACE_VALUE))
                ]
            },
        )
    return amount


def check_client_key(key: Any) -> str:
    """An idempotency key: 1-200 printable ASCII characters."""
    if (
        not isinstance(key, str)
        or not 0 < len(key) <= MAX_CLIENT_KEY_CHARS
        or not set(key) <= _PRINTABLE
    ):
        raise ValidationFailed(
            "idempotency_key must be 1-200 printable ASCII characters",
            errors={"idempotency_key": ["Must be 1-200 printable ASCII characters."]},
        )
    return key


def parse_voucher_id(voucher_id: Any) -> str:
    """A voucher id as the API writes it (32 lower-case hex); anything else is not found."""
    if (
        not isinstance(voucher_id, str)
        or len(voucher_id) != 32
        or not set(voucher_id) <= set("0123456789abcdef")
    ):
        raise VoucherNotFound(T("there is no such voucher"))
    return voucher_id


# --- reading ------------------------------------------------------------------------------


def get_voucher(session: Session, voucher_id: str, *, person_id: int | None = None) -> Voucher:
    """A voucher by id. With ``person_id``, only that member's own (someone else's voucher is
    "not found", never "forbidden": ids are not confirmed to strangers)."""
    row = session.get(Voucher, parse_voucher_id(voucher_id))
    if row is None or (person_id is not None and row.person_id != person_id):
        raise VoucherNotFound(T("there is no such voucher"))
    return row


def _member_vouchers(person_id: int, states: Sequence[VoucherState] | None) -> Select[Any]:
    """A member's vouchers (in ``states``, if given), newest first."""
    query = select(Voucher).where(V.person_id == person_id)
    if states:
        query = query.where(V.state.in_([s.value for s in states]))
    return query.order_by(V.issued_at.desc(), V.id)


def list_vouchers(
    session: Session,
    person_id: int,
    *,
    states: Sequence[VoucherState] | None = None,
    limit: int = 50,
) -> list[Voucher]:
    """A member's latest ``limit`` vouchers, newest first (the pages show the latest few)."""
    return list(session.execute(_member_vouchers(person_id, states).limit(limit)).scalars())


def vouchers_window(
    session: Session,
    person_id: int,
    *,
    states: Sequence[VoucherState] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Window[Voucher]:
    """A member's vouchers, newest first: ``limit`` from ``offset``, and how many there are.

    By limit and offset (credits/paging.py), because contract v1 pages ``GET /vouchers``
    with ``?limit=&offset=`` and answers with a ``total``; a member holds few vouchers, so
    the offset stays small.
    """
    return window(session, _member_vouchers(person_id, states), limit=limit, offset=offset)


def count_vouchers(
    session: Session, person_id: int, *, states: Sequence[VoucherState] | None = None
) -> int:
    """How many vouchers the member has (in ``states``, if given)."""
    query = select(func.count()).select_from(T_VOUCHER).where(V.person_id == person_id)
    if states:
        query = query.where(V.state.in_([s.value for s in states]))
    return int(session.execute(query).scalar_one())


@dataclass(frozen=True)
class BalanceSummary:
    balance: int  # spendable credits (the member account)
    in_vouchers: int  # face value of their open vouchers
    open_vouchers: int


def balance_summary(session: Session, person_id: int) -> BalanceSummary:
    """What a member holds: spendable balance and credits held in open vouchers."""
    person = session.get(Person, person_id)
    if person is None or person.ledger_account_id is None:
        raise VoucherNotFound(f"person {person_id} has no member account")
    held, count = session.execute(
        select(func.coalesce(func.sum(V.face_value), 0), func.count()).where(
            V.person_id == person_id, V.state == VoucherState.OPEN.value
        )
    ).one()
    return BalanceSummary(
        balance=ledger.balance(session, person.ledger_account_id),
        in_vouchers=int(held),
        open_vouchers=int(count),
    )


def code_for(voucher: Voucher, keyring: KeyRing) -> str:
    """The voucher's code (the QR text), signed by the key that signed it.

    If that key is no longer usable (revoked while the row was not yet re-signed), the
    active key signs instead: the holder's voucher keeps working.
    """
    signer = keyring.signer(voucher.kid)
    if signer is None:
        log.warning(
            "voucher %s: key %s unusable; signing with the active key", voucher.id, voucher.kid
        )
        _, signer = keyring.active()
    return sign_code(
        signer,
        scheme_id=voucher.scheme_id,
        voucher_id=bytes.fromhex(voucher.id),
        face_value=voucher.face_value,
        expires_at=int(voucher.expires_at.timestamp()),
    )


def display_reference(voucher: Voucher) -> str:
    """``XXXX-XXXX``."""
    return f"{voucher.reference[:4]}-{voucher.reference[4:]}"


# --- issuing ------------------------------------------------------------------------------


def _member_account(session: Session, person_id: int) -> int:
    person = session.get(Person, person_id)
    if (
        person is None
        or person.ledger_account_id is None
        or person.status != PersonStatus.ACTIVE.value
        or Role.MEMBER not in roles_of(session, person_id)
    ):
        raise VoucherNotFound(f"person {person_id} is not an active member")
    return person.ledger_account_id


def issue_voucher(
    session: Session,
    *,
    keyring: KeyRing,
    policy: VoucherPolicy,
    person_id: int,
    amount: Any,
    client_key: Any,
    actor: str,
    now: datetime | None = None,
) -> tuple[Voucher, bool]:
    """Turn ``amount`` of a member's credits into a new open voucher: (voucher, replayed).

    One ledger entry (member −amount, vouchers outstanding +amount) and the voucher row, in
    the caller's transaction. The same ``client_key`` again returns the first voucher and
    posts nothing (``replayed``); with another amount it is :class:`IdempotencyConflict`.
    Not enough credits → :class:`InsufficientFunds`, also under concurrency (the ledger's
    floored debit decides). ``actor`` is who asked: the member, or an officer for them.
    """
    amount = check_amount(amount)
    client_key = check_client_key(client_key)
    key = f"voucher-issue:{person_id}:{client_key}"
    account_id = _member_account(session, person_id)

    existing = ledger.find_entry_by_key(session, key)
    if existing is not None:
        return _replayed(session, existing, amount, client_key), True

    if count_vouchers(session, person_id, states=[VoucherState.OPEN]) >= MAX_OPEN_VOUCHERS:
        raise TooManyOpenVouchers(
            T(
                "you already hold %(count)s open vouchers: use or cancel one first",
                count=MAX_OPEN_VOUCHERS,
            )
        )
    balance = ledger.balance(session, account_id)
    if balance < amount:
        raise InsufficientFunds(
            Tn(
                "you have %(num)s credit available; a voucher of %(amount)s needs %(more)s more",
                "you have %(num)s credits available; a voucher of %(amount)s needs %(more)s more",
                balance,
                amount=amount,
                more=amount - balance,
            ),
            balance=balance,
        )
    now = now or utcnow()
    issued_at = now
    expires_at = now.replace(microsecond=0) + timedelta(days=policy.expiry_days)
    if expires_at.timestamp() > MAX_EXPIRES_AT:
        raise ValueError("expiry beyond 2106: the code cannot carry it")
    kid = keyring.active()[0].kid
    vouchers = ledger.scheme_account(session, ledger.VOUCHERS_OUTSTANDING)
    try:
        entry = ledger.post_entry(
            session,
            ledger.EntryRequest(
                kind=ledger.EntryKind.VOUCHER_ISSUE,
                legs=(ledger.Leg(account_id, -amount), ledger.Leg(vouchers.id, amount)),
                # No voucher id in the memo: a concurrent retry must fingerprint the same.
                memo=f"Voucher of {amount} credits",
                actor=actor,
                idempotency_key=key,
            ),
            now=now,
        )
    except InsufficientFunds as exc:
        raise InsufficientFunds(
            Tn(
                "you do not have %(num)s credit available (another request spent it)",
                "you do not have %(num)s credits available (another request spent them)",
                amount,
            )
        ) from exc
    if entry.replayed:  # a concurrent attempt with the same key won
        return _replayed(session, entry, amount, client_key), True

    voucher_id = secrets.token_bytes(16)
    row = Voucher(
        id=voucher_id.hex(),
        person_id=person_id,
        account_id=account_id,
        face_value=amount,
        scheme_id=policy.scheme_id,
        kid=kid,
        reference=reference(voucher_id).replace("-", ""),
        state=VoucherState.OPEN.value,
        issued_at=issued_at,
        expires_at=expires_at,
        issued_by=actor,
        issue_entry_id=entry.id,
    )
    session.add(row)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "voucher"):  # 128 random bits colliding: never, but retry
            raise RetryTransaction("voucher id collision") from exc
        raise
    return row, False


def _replayed(session: Session, entry: ledger.PostedEntry, amount: int, client_key: str) -> Voucher:
    row = session.execute(select(Voucher).where(V.issue_entry_id == entry.id)).scalar_one_or_none()
    if row is None:
        # The key was used by an entry that is not a voucher issue: cannot happen with the
        # namespaced key, but never hand back something else.
        raise IdempotencyConflict(f"idempotency key {client_key!r} was used for something else")
    if row.face_value != amount:
        raise IdempotencyConflict(
            f"idempotency key {client_key!r} was already used for a voucher of "
            f"{row.face_value} credits, not {amount}"
        )
    return row


# --- leaving the open state -------------------------------------------------------------


def _refusal(row: Voucher | None, voucher_id: str) -> Exception:
    """The error for a voucher that is not open (or not there)."""
    if row is None:
        return VoucherNotFound(T("there is no such voucher"))
    if row.state == VoucherState.CANCELLED.value:
        return VoucherCancelled(
            T("this voucher was cancelled; its credits went back to the member")
        )
    if row.state == VoucherState.REDEEMED.value:
        closed = row.closed_at.isoformat().replace("+00:00", "Z") if row.closed_at else None
        return AlreadyRedeemed(T("this voucher has already been spent"), redeemed_at=closed)
    if row.state == VoucherState.EXPIRED.value:
        return VoucherNotOpen(T("this voucher expired; its credits went back to the member"))
    return VoucherExpired(T("this voucher has expired"))


def claim_open_voucher(
    session: Session,
    voucher_id: str,
    to_state: VoucherState,
    *,
    actor: str,
    now: datetime,
    person_id: int | None = None,
    valid_at: datetime | None = None,
) -> Voucher:
    """Move an open voucher to ``to_state`` — the one conditional UPDATE that makes every
    close happen exactly once. Redemption calls this with ``VoucherState.REDEEMED``;
    ``valid_at`` (default ``now``) is when its validity is judged: a redemption a shop
    accepted offline is judged at the moment it accepted it.

    ``UPDATE voucher SET state=:to, closed_at=:now, closed_by=:actor WHERE id=:id AND
    state='open'`` (plus ``expires_at > now`` for a redemption, ``expires_at <= now`` for an
    expiry; ``person_id`` restricts it to one member's voucher). Of concurrent claims one
    changes the row; the others wait for its lock (PostgreSQL) or the write lock (SQLite),
    then change nothing and get the matching error: :class:`AlreadyRedeemed`,
    :class:`VoucherCancelled`, ``expired``, or :class:`VoucherNotFound`.

    The caller then posts the closing entry (idempotency key ``voucher-close:<id>``) in the
    same transaction and records it with :func:`attach_closing_entry`.
    """
    assert to_state is not VoucherState.OPEN
    voucher_id = parse_voucher_id(voucher_id)
    conditions = [V.id == voucher_id, V.state == VoucherState.OPEN.value]
    if person_id is not None:
        conditions.append(V.person_id == person_id)
    if to_state is VoucherState.REDEEMED:
        conditions.append(V.expires_at > (valid_at or now))
    elif to_state is VoucherState.EXPIRED:
        conditions.append(V.expires_at <= now)
    result = session.execute(
        update(Voucher)
        .where(*conditions)
        .values(state=to_state.value, closed_at=now, closed_by=actor)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        row = session.get(Voucher, voucher_id, populate_existing=True)
        if row is not None and person_id is not None and row.person_id != person_id:
            row = None
        raise _refusal(row, voucher_id)
    row = session.get(Voucher, voucher_id, populate_existing=True)
    assert row is not None
    return row


def attach_closing_entry(session: Session, voucher_id: str, entry_id: int) -> None:
    """Record which ledger entry closed a voucher (after :func:`claim_open_voucher`)."""
    session.execute(
        update(Voucher)
        .where(V.id == voucher_id, V.state != VoucherState.OPEN.value, V.closed_entry_id.is_(None))
        .values(closed_entry_id=entry_id)
    )


def closing_key(voucher_id: str) -> str:
    """The ledger idempotency key of the one entry that closes a voucher."""
    return f"voucher-close:{voucher_id}"


def _return_to_member(
    session: Session, row: Voucher, kind: ledger.EntryKind, memo: str, actor: str, now: datetime
) -> ledger.PostedEntry:
    vouchers = ledger.scheme_account(session, ledger.VOUCHERS_OUTSTANDING)
    entry = ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=kind,
            legs=(
                ledger.Leg(vouchers.id, -row.face_value),
                ledger.Leg(row.account_id, row.face_value),
            ),
            memo=memo,
            actor=actor,
            idempotency_key=closing_key(row.id),
        ),
        now=now,
    )
    if entry.replayed:  # a closing entry already exists: the row must not have been open
        raise RuntimeError(f"voucher {row.id} already has a closing entry {entry.id}")
    attach_closing_entry(session, row.id, entry.id)
    row.closed_entry_id = entry.id
    return entry


def cancel_voucher(
    session: Session,
    voucher_id: str,
    *,
    actor: str,
    person_id: int | None = None,
    now: datetime | None = None,
) -> Voucher:
    """Cancel an unused voucher: its value goes back to the member in one entry.

    ``person_id`` limits it to that member's own voucher (an officer passes None). Already
    cancelled → :class:`VoucherCancelled`; spent → :class:`AlreadyRedeemed`; expired and
    already returned → ``expired``. A voucher past its expiry that the sweep has not yet
    reached can still be cancelled: the member gets the credits back either way.
    """
    now = now or utcnow()
    row = claim_open_voucher(
        session, voucher_id, VoucherState.CANCELLED, actor=actor, now=now, person_id=person_id
    )
    _return_to_member(
        session,
        row,
        ledger.EntryKind.CANCEL,
        f"Voucher {display_reference(row)} cancelled: {row.face_value} credits back",
        actor,
        now,
    )
    return row


def expire_one(session: Session, voucher_id: str, *, actor: str, now: datetime) -> Voucher | None:
    """Expire one voucher if it is still open and past its expiry; None if it is not (it was
    spent, cancelled or expired meanwhile — by a concurrent sweep, say)."""
    try:
        row = claim_open_voucher(session, voucher_id, VoucherState.EXPIRED, actor=actor, now=now)
    except (VoucherNotFound, VoucherCancelled, AlreadyRedeemed, VoucherNotOpen, VoucherExpired):
        return None
    _return_to_member(
        session,
        row,
        ledger.EntryKind.EXPIRE,
        f"Voucher {display_reference(row)} expired unused: {row.face_value} credits back",
        actor,
        now,
    )
    return row


@dataclass(frozen=True)
class ExpiryRun:
    expired: int
    credits_returned: int


def expire_due(
    db: Database, *, actor: str = "system:expire-vouchers", now: datetime | None = None
) -> ExpiryRun:
    """Return every expired, unused voucher's value to its member: one entry (and one
    transaction) per voucher. Safe to run twice or concurrently: a voucher already closed is
    skipped by the conditional UPDATE, and its closing key cannot post twice."""
    now = now or utcnow()
    expired = credits_back = 0
    seen: set[str] = set()
    while True:
        with db.read() as s:
            ids = [
                i
                for i in s.execute(
                    select(V.id)
                    .where(V.state == VoucherState.OPEN.value, V.expires_at <= now)
                    .order_by(V.expires_at, V.id)
                    .limit(EXPIRE_BATCH)
                ).scalars()
                if i not in seen
            ]
        if not ids:
            break
        for voucher_id in ids:
            seen.add(voucher_id)
            row = db.run(lambda s, v=voucher_id: expire_one(s, v, actor=actor, now=now))
            if row is not None:
                expired += 1
                credits_back += row.face_value
    return ExpiryRun(expired, credits_back)


# --- keys -----------------------------------------------------------------------------------


def verify_voucher_code(
    keyring: KeyRing, code: Any, *, now: datetime | None = None
) -> VoucherClaims:
    """Verify a code with this instance's own trust list (the same steps a terminal runs)."""
    return verify_code(code, keyring.trust_map(), now=now or utcnow())


def key_validity(session: Session, keyring: KeyRing) -> list[dict[str, Any]]:
    """Each key with its status and validity, for the trust list and `credits keys list`.

    ``valid_from`` is when it was made. ``valid_until``: none for the active key; for a
    retired key, the last expiry among the vouchers it signed (it verifies nothing later);
    for a revoked key, when it was revoked. ``signed`` counts the vouchers it signed that are
    still open.
    """
    last_expiry = dict(session.execute(select(V.kid, func.max(V.expires_at)).group_by(V.kid)).all())
    open_counts = dict(
        session.execute(
            select(V.kid, func.count()).where(V.state == VoucherState.OPEN.value).group_by(V.kid)
        ).all()
    )
    out = []
    for k in keyring.list_keys():
        if k.status == ACTIVE:
            until = None
        elif k.status == RETIRED:
            until = max(filter(None, [last_expiry.get(k.kid), k.retired_at]))
        else:
            until = k.revoked_at
        out.append(
            {
                "kid": k.kid,
                "status": k.status,
                "use": k.use,
                "public_key": k.public_key_b64,
                "valid_from": k.created_at,
                "valid_until": until,
                "open_vouchers": int(open_counts.get(k.kid, 0)),
            }
        )
    return out


def revoke_key(db: Database, keyring: KeyRing, kid: str) -> tuple[str, int]:
    """Revoke a key and re-sign the open vouchers it signed with the active key, so their
    holders lose nothing (a printed copy must be printed again). Returns (active kid, how
    many vouchers were re-signed)."""
    _, new = keyring.revoke(kid)
    active = new.kid if new else keyring.active()[0].kid

    def resign(s: Session) -> int:
        result = s.execute(
            update(Voucher)
            .where(V.kid == kid, V.state == VoucherState.OPEN.value)
            .values(kid=active)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    return active, db.run(resign)


__all__ = [
    "REVOKED",
    "BalanceSummary",
    "ExpiryRun",
    "VoucherPolicy",
    "attach_closing_entry",
    "balance_summary",
    "cancel_voucher",
    "check_amount",
    "check_client_key",
    "claim_open_voucher",
    "closing_key",
    "code_for",
    "count_vouchers",
    "display_reference",
    "expire_due",
    "expire_one",
    "get_voucher",
    "issue_voucher",
    "key_validity",
    "list_vouchers",
    "revoke_key",
    "verify_voucher_code",
    "vouchers_window",
]
