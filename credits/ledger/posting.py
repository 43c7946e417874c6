"""Posting journal entries: the only way credits move.

Guarantees of :func:`post_entry` (each also checked by `credits verify` or the database):

1. The entry balances: its postings are non-zero integers that sum to zero, at most one per
   account, at least two. Floats, booleans, zero and out-of-range amounts are refused.
2. It is written in the caller's transaction, together with the balance changes; nothing
   commits here (the unit of work does).
3. A floored (member) balance never goes below zero, whatever the concurrency: its single
   balance row is changed with a conditional ``UPDATE ... WHERE balance + amount >= 0``,
   which on PostgreSQL re-checks the row after waiting for a concurrent writer's lock, and
   on SQLite runs under the write lock taken at ``BEGIN IMMEDIATE``. Balance rows are
   always changed in ascending account order, so two entries never wait on each other in
   a cycle. A refused debit raises :class:`InsufficientFunds` and the transaction rolls back.
4. The same idempotency key with the same request returns the first entry and posts
   nothing (``replayed=True``); with a different request it raises
   :class:`IdempotencyConflict`. Two concurrent requests with one key: one posts, the other
   loses the unique-key race, is retried by the unit of work and replays.
5. The entry is appended to one lane of the hash chain (see chain.py).
6. Nothing is dated in a closed month (:class:`PeriodClosed`), nor in the future.

On PostgreSQL steps 3-6 run in one round trip, inside the ``ledger_post`` function
(migrations 0001 and 0007; the database computes the content hash with the same canonical
text as chain.py); elsewhere they run as separate statements from Python. Both are run by
the whole test suite.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from credits.db import Database, RetryTransaction, is_retryable, unique_violation, utcnow
from credits.i18n import T
from credits.ledger import chain, periods
from credits.ledger.accounts import CHAIN_LANES
from credits.ledger.errors import (
    AlreadyReversed,
    EntryNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidEntry,
    PeriodClosed,
    UnknownAccount,
)
from credits.ledger.models import (
    T_ACCOUNT,
    T_BALANCE,
    T_ENTRY,
    T_LANE,
    T_POSTING,
    AccountBalance,
    ChainLane,
    JournalEntry,
    PostingRow,
)
from credits.ledger.types import (
    MAX_ACTOR_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_MEMO_CHARS,
    MAX_POSTING_CREDITS,
    MAX_POSTINGS_PER_ENTRY,
    EntryKind,
    EntryRequest,
    Leg,
    PostedEntry,
    Posting,
)

#: How far ahead of the server clock an ``occurred_at`` may be (clients' clocks drift).
MAX_CLOCK_SKEW = timedelta(minutes=5)

_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")

# SQLSTATEs raised by the PostgreSQL functions and triggers of migration 0001.
SQLSTATE_INSUFFICIENT_FUNDS = "CR001"
SQLSTATE_PERIOD_CLOSED = "CR002"
SQLSTATE_UNKNOWN_ACCOUNT = "CR003"


def validate_request(request: EntryRequest) -> None:
    """Raise :class:`InvalidEntry` unless ``request`` is a well-formed, balanced entry."""
    if not isinstance(request.kind, EntryKind):
        raise InvalidEntry(f"unknown entry kind {request.kind!r}")
    legs = request.legs
    if not isinstance(legs, tuple) or not all(isinstance(leg, Leg) for leg in legs):
        raise InvalidEntry("legs must be a tuple of Leg")
    if len(legs) < 2:
        raise InvalidEntry("an entry needs at least two postings")
    if len(legs) > MAX_POSTINGS_PER_ENTRY:
        raise InvalidEntry(f"an entry may have at most {MAX_POSTINGS_PER_ENTRY} postings")
    seen: set[int] = set()
    total = 0
    for leg in legs:
        amount = leg.amount_credits
        # bool is an int subclass, and a float near money is always a bug.
        if type(amount) is not int:
            raise InvalidEntry(
                f"amounts are whole credits (int), not {type(amount).__name__}: {amount!r}"
            )
        if amount == 0:
            raise InvalidEntry("a posting of zero credits means nothing: leave it out")
        if abs(amount) > MAX_POSTING_CREDITS:
            raise InvalidEntry(f"{amount} is beyond the largest posting ({MAX_POSTING_CREDITS})")
        if type(leg.account_id) is not int or leg.account_id <= 0:
            raise UnknownAccount(f"{leg.account_id!r} is not an account id")
        if leg.account_id in seen:
            raise InvalidEntry(f"account {leg.account_id} appears twice in one entry")
        seen.add(leg.account_id)
        total += amount
    if total != 0:
        raise InvalidEntry(f"the postings sum to {total}, not 0: the entry does not balance")
    if not isinstance(request.memo, str) or len(request.memo) > MAX_MEMO_CHARS:
        raise InvalidEntry(f"the memo must be text of at most {MAX_MEMO_CHARS} characters")
    if not isinstance(request.actor, str) or not 0 < len(request.actor) <= MAX_ACTOR_CHARS:
        raise InvalidEntry("every entry must say who made it (actor)")
    key = request.idempotency_key
    if (
        not isinstance(key, str)
        or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS
        or not set(key) <= _PRINTABLE
    ):
        raise InvalidEntry(
            f"the idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"
        )
    if (request.kind is EntryKind.REVERSAL) != (request.reverses_entry_id is not None):
        raise InvalidEntry("a reversal, and only a reversal, names the entry it reverses")
    if request.occurred_at is not None and (
        not isinstance(request.occurred_at, datetime) or request.occurred_at.tzinfo is None
    ):
        raise InvalidEntry("occurred_at must be a timezone-aware datetime")


def request_fingerprint(request: EntryRequest) -> str:
    """SHA-256 of what was asked: kind, postings, memo, reversal target, and ``occurred_at``
    if the caller gave one. Not the actor (who asked is not what was asked)."""
    body: dict[str, Any] = {
        "kind": request.kind.value,
        "postings": sorted((leg.account_id, leg.amount_credits) for leg in request.legs),
        "memo": request.memo,
        "reverses": request.reverses_entry_id,
    }
    if request.occurred_at is not None:
        body["occurred_at"] = chain.epoch_us(request.occurred_at)
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True, slots=True)
class _Prepared:
    request: EntryRequest
    occurred_at: datetime
    recorded_at: datetime
    request_hash: str
    postings: tuple[tuple[int, int], ...]  # (account id, amount), ascending account id
    lane: int


@dataclass(frozen=True, slots=True)
class _Applied:
    entry_id: int
    replayed: bool
    request_hash: str
    hash: str


def _prepare(request: EntryRequest, now: datetime | None) -> _Prepared:
    validate_request(request)
    now = now or utcnow()
    occurred_at = request.occurred_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise InvalidEntry(f"occurred_at {occurred_at.isoformat()} is in the future")
    postings = tuple(sorted((leg.account_id, leg.amount_credits) for leg in request.legs))
    return _Prepared(
        request=request,
        occurred_at=occurred_at,
        recorded_at=now,
        request_hash=request_fingerprint(request),
        postings=postings,
        lane=random.randrange(CHAIN_LANES),
    )


def _posted(p: _Prepared, applied: _Applied) -> PostedEntry:
    request = p.request
    return PostedEntry(
        id=applied.entry_id,
        kind=request.kind,
        memo=request.memo,
        actor=request.actor,
        occurred_at=p.occurred_at,
        recorded_at=p.recorded_at,
        idempotency_key=request.idempotency_key,
        reverses_entry_id=request.reverses_entry_id,
        postings=tuple(Posting(a, amt) for a, amt in p.postings),
        hash=applied.hash,
    )


def _check_replay(p: _Prepared, applied: _Applied) -> None:
    if applied.request_hash != p.request_hash:
        raise IdempotencyConflict(
            f"idempotency key {p.request.idempotency_key!r} was already used for a "
            "different request"
        )


def post_entry(
    session: Session, request: EntryRequest, *, now: datetime | None = None
) -> PostedEntry:
    """Post ``request`` as one balanced journal entry in the session's transaction.

    See the module docstring for the guarantees. Returns the posted entry, or the first
    entry posted under the same idempotency key (``replayed=True``).
    """
    prepared = _prepare(request, now)
    try:
        if session.get_bind().dialect.name == "postgresql":
            applied = _apply_postgres(session, prepared)
        else:
            applied = _apply_python(session, prepared)
    except DBAPIError as exc:
        raise _translate(exc, prepared) from exc
    if applied.replayed:
        _check_replay(prepared, applied)
        return get_entry(session, applied.entry_id, replayed=True)
    return _posted(prepared, applied)


def post_standalone(
    db: Database, request: EntryRequest, *, now: datetime | None = None
) -> PostedEntry:
    """Post an entry that is a whole use case by itself, in its own transaction.

    Same guarantees as :func:`post_entry`. On PostgreSQL it is one round trip: a single
    ``SELECT ledger_post(...)`` in autocommit mode, which PostgreSQL runs atomically (the
    deferred balance triggers fire at its implicit commit). A unit of work costs three
    (BEGIN, the statement, COMMIT); on this project's reference machine that is the
    difference between ~900 and ~1,500 entries/s (docs/benchmarks.md). Elsewhere it is
    ``db.run(post_entry)``.
    """
    if db.dialect != "postgresql":
        return db.run(lambda s: post_entry(s, request, now=now))
    prepared = _prepare(request, now)
    for attempt in range(1, db.attempts + 1):
        try:
            row = db.execute_autocommit(_PG_POST_SQL, _pg_params(prepared))
        except DBAPIError as exc:
            translated = _translate(exc, prepared)
            retry = isinstance(translated, RetryTransaction) or is_retryable(exc)
            if retry and attempt < db.attempts:
                continue
            raise translated from exc
        applied = _Applied(int(row[0]), bool(row[1]), row[2], row[3])
        if applied.replayed:
            _check_replay(prepared, applied)
            with db.read() as session:
                return get_entry(session, applied.entry_id, replayed=True)
        return _posted(prepared, applied)
    raise AssertionError("unreachable")


def _translate(exc: DBAPIError, prepared: _Prepared) -> Exception:
    """Turn a database refusal into the domain error it means (or ask for a retry)."""
    if unique_violation(exc, "idempotency_key"):
        return RetryTransaction("lost an idempotency-key race; the retry will replay")
    if unique_violation(exc, "reverses_entry_id"):
        return AlreadyReversed(
            f"entry {prepared.request.reverses_entry_id} has already been reversed"
        )
    sqlstate = getattr(exc.orig, "sqlstate", None)
    diag = getattr(exc.orig, "diag", None)
    message = getattr(diag, "message_primary", None) or str(exc.orig)
    if sqlstate == SQLSTATE_INSUFFICIENT_FUNDS:
        return InsufficientFunds(message, account_id=int(getattr(diag, "message_detail", 0) or 0))
    if sqlstate == SQLSTATE_PERIOD_CLOSED:
        month = str(periods.Month.containing(prepared.occurred_at))
        return PeriodClosed(
            T(
                "%(month)s is closed: nothing can be dated in it. Post a correction in the open "
                "month instead.",
                month=month,
            ),
            month=month,
        )
    if sqlstate == SQLSTATE_UNKNOWN_ACCOUNT:
        return UnknownAccount(message)
    return exc


# PostgreSQL computes the content hash itself (ledger_canonical_hash, migration 0007), the
# same canonical text as chain.py; `credits verify` recomputes it in Python.
_PG_POST_SQL = (
    "SELECT entry_id, replayed, request_hash, hash FROM ledger_post("
    "%(kind)s, %(memo)s, %(actor)s, %(occurred_at)s, %(recorded_at)s, %(idempotency_key)s, "
    "%(request_hash)s, %(reverses)s::bigint, %(accounts)s::bigint[], "
    "%(amounts)s::bigint[], %(lane)s::int)"
)
_PG_POST = text(
    "SELECT entry_id, replayed, request_hash, hash FROM ledger_post("
    ":kind, :memo, :actor, :occurred_at, :recorded_at, :idempotency_key, :request_hash, "
    "CAST(:reverses AS bigint), CAST(:accounts AS bigint[]), "
    "CAST(:amounts AS bigint[]), CAST(:lane AS int))"
)


def _pg_params(p: _Prepared) -> dict[str, Any]:
    return {
        "kind": p.request.kind.value,
        "memo": p.request.memo,
        "actor": p.request.actor,
        "occurred_at": p.occurred_at,
        "recorded_at": p.recorded_at,
        "idempotency_key": p.request.idempotency_key,
        "request_hash": p.request_hash,
        "reverses": p.request.reverses_entry_id,
        "accounts": [a for a, _ in p.postings],
        "amounts": [amt for _, amt in p.postings],
        "lane": p.lane,
    }


def _apply_postgres(session: Session, p: _Prepared) -> _Applied:
    row = session.execute(_PG_POST, _pg_params(p)).one()
    return _Applied(int(row.entry_id), bool(row.replayed), row.request_hash, row.hash)


_DEBIT = (
    update(AccountBalance)
    .where(
        T_BALANCE.c.account_id == bindparam("a_id"),
        T_BALANCE.c.slot == bindparam("a_slot"),
        (T_BALANCE.c.allow_negative | (T_BALANCE.c.balance + bindparam("amt") >= 0)),
    )
    .values(balance=T_BALANCE.c.balance + bindparam("amt"))
)


def _apply_python(session: Session, p: _Prepared) -> _Applied:
    request = p.request
    existing = session.execute(
        select(T_ENTRY.c.id, T_ENTRY.c.request_hash, T_ENTRY.c.hash).where(
            T_ENTRY.c.idempotency_key == request.idempotency_key
        )
    ).first()
    if existing is not None:
        return _Applied(int(existing[0]), True, existing[1], existing[2])

    ids = [a for a, _ in p.postings]
    accounts = {
        int(r[0]): int(r[1])
        for r in session.execute(
            select(T_ACCOUNT.c.id, T_ACCOUNT.c.slots).where(T_ACCOUNT.c.id.in_(ids))
        )
    }
    missing = [a for a in ids if a not in accounts]
    if missing:
        raise UnknownAccount(f"no account {missing[0]}")
    periods.ensure_open(session, p.occurred_at)

    for account_id, amount in p.postings:  # ascending account id: a fixed lock order
        slots = accounts[account_id]
        slot = 0 if slots == 1 else random.randrange(slots)
        changed = cast(
            "CursorResult[Any]",
            session.execute(_DEBIT, {"a_id": account_id, "a_slot": slot, "amt": amount}),
        )
        if changed.rowcount != 1:
            raise InsufficientFunds(
                f"account {account_id} does not hold {-amount} credits",
                account_id=account_id,
            )

    seq, prev = session.execute(
        select(T_LANE.c.seq, T_LANE.c.head_hash).where(T_LANE.c.lane == p.lane)
    ).one()
    # PostgreSQL computes this in ledger_post (migration 0007); here it is done in Python.
    content_hash = chain.content_hash(
        chain.canonical_text(
            kind=request.kind.value,
            occurred_at=p.occurred_at,
            recorded_at=p.recorded_at,
            reverses_entry_id=request.reverses_entry_id,
            memo=request.memo,
            actor=request.actor,
            idempotency_key=request.idempotency_key,
            postings=p.postings,
        )
    )
    new_hash = chain.link_hash(prev, content_hash)
    session.execute(
        update(ChainLane).where(T_LANE.c.lane == p.lane).values(seq=seq + 1, head_hash=new_hash)
    )
    entry_id = session.execute(
        insert(JournalEntry)
        .values(
            kind=request.kind.value,
            memo=request.memo,
            actor=request.actor,
            occurred_at=p.occurred_at,
            recorded_at=p.recorded_at,
            idempotency_key=request.idempotency_key,
            request_hash=p.request_hash,
            reverses_entry_id=request.reverses_entry_id,
            lane=p.lane,
            lane_seq=seq + 1,
            content_hash=content_hash,
            prev_hash=prev,
            hash=new_hash,
        )
        .returning(T_ENTRY.c.id)
    ).scalar_one()
    session.execute(
        insert(PostingRow),
        [{"entry_id": entry_id, "account_id": a, "amount": amt} for a, amt in p.postings],
    )
    return _Applied(int(entry_id), False, p.request_hash, new_hash)


def find_entry_by_key(session: Session, idempotency_key: str) -> PostedEntry | None:
    """The entry posted under ``idempotency_key``, or None. Use cases call this first when
    a retry must return what the first attempt created (a voucher, a redemption)."""
    entry_id = session.execute(
        select(T_ENTRY.c.id).where(T_ENTRY.c.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    return None if entry_id is None else get_entry(session, int(entry_id), replayed=True)


def get_entry(session: Session, entry_id: int, *, replayed: bool = False) -> PostedEntry:
    """Load a posted entry with its postings; :class:`EntryNotFound` if there is none."""
    row = session.get(JournalEntry, entry_id)
    if row is None:
        raise EntryNotFound(f"no journal entry {entry_id}")
    lines = session.execute(
        select(T_POSTING.c.account_id, T_POSTING.c.amount)
        .where(T_POSTING.c.entry_id == entry_id)
        .order_by(T_POSTING.c.account_id)
    ).all()
    assert row.id is not None
    return PostedEntry(
        id=row.id,
        kind=EntryKind(row.kind),
        memo=row.memo,
        actor=row.actor,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        idempotency_key=row.idempotency_key,
        reverses_entry_id=row.reverses_entry_id,
        postings=tuple(Posting(int(a), int(amt)) for a, amt in lines),
        hash=row.hash,
        replayed=replayed,
    )


def reverse(
    session: Session,
    entry_id: int,
    *,
    memo: str,
    actor: str,
    idempotency_key: str,
    now: datetime | None = None,
) -> PostedEntry:
    """Post the mirror image of ``entry_id`` now (in the open month), linked to it.

    The original stays as it was (entries are never changed). An entry is reversed at most
    once (:class:`AlreadyReversed`); a reversal cannot itself be reversed (post a new entry
    instead). Reversing can fail with :class:`InsufficientFunds` when a member has since
    spent the credits being taken back. Idempotent like :func:`post_entry`.
    """
    # Of two concurrent reversals the second waits, then sees the first and is told
    # AlreadyReversed, rather than failing on a balance the first has already moved.
    # PostgreSQL: a transaction-scoped advisory lock on the entry's id — not SELECT ... FOR
    # UPDATE, which PostgreSQL grants only to roles that may UPDATE the table, and the app's
    # role may not touch the journal (credits/privileges.py). SQLite: writers are serial.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended('ledger-reverse:' || :e, 0))"),
            {"e": str(entry_id)},
        )
    original = get_entry(session, entry_id)
    if original.kind is EntryKind.REVERSAL:
        raise InvalidEntry(f"entry {entry_id} is a reversal; post a new entry to undo it")
    existing = session.execute(
        select(T_ENTRY.c.idempotency_key).where(T_ENTRY.c.reverses_entry_id == entry_id)
    ).scalar_one_or_none()
    if existing is not None and existing != idempotency_key:
        raise AlreadyReversed(f"entry {entry_id} has already been reversed")
    return post_entry(
        session,
        EntryRequest(
            kind=EntryKind.REVERSAL,
            legs=tuple(Leg(p.account_id, -p.amount_credits) for p in original.postings),
            memo=memo,
            actor=actor,
            idempotency_key=idempotency_key,
            reverses_entry_id=entry_id,
        ),
        now=now,
    )
