"""Reconciliation: prove the ledger's rules hold over everything stored.

Each check returns every problem it finds (not just the first), so an officer sees the
whole extent of a fault. `credits verify` prints each check and exits 1 if any failed; the
month close (credits.statements) runs these and more.
"""

from __future__ import annotations

import binascii
import hashlib
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from credits.ledger import chain
from credits.ledger.models import T_ENTRY, T_POSTING

#: A check: reads through the session, returns its result — or, for checks that share one
#: pass over the data, several results (such a function has ``reports = N``).
Check = Callable[[Session], "CheckResult | tuple[CheckResult, ...]"]

C = TypeVar("C", bound=Callable[..., Any])


def costs(seconds: float) -> Callable[[C], C]:
    """Mark a check with roughly what it costs on a borough's year (seconds on one core,
    docs/benchmarks.md), so that the parallel runner starts the costliest first and no long
    check is left running alone at the end. Unmarked checks count as 1 s."""

    def mark(check: C) -> C:
        check.cost_s = seconds  # type: ignore[attr-defined]
        return check

    return mark


#: How many problems a check lists in full; the rest are counted.
MAX_LISTED = 50


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    description: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    #: Wall-clock seconds the check took (set by :func:`run_checks`).
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(problem)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "ok": self.ok,
            "checked": self.checked,
            "problem_count": self.problem_count,
            "problems": list(self.problems),
            "elapsed_s": round(self.elapsed_s, 3),
        }


#: Memory each sort or hash of a verify query may use before it spills to disk: the
#: aggregates over millions of postings spill with PostgreSQL's default of 4 MB (and sorts of
#: a year's award lines still spilled at 256 MB).
VERIFY_WORK_MEM = "512MB"


def tune_for_verify(session: Session) -> None:
    """For the rest of this (read) transaction on PostgreSQL: room for big sorts and hashes,
    and no JIT (compiling the verify queries' expressions costs seconds and saves less).

    (``random_page_cost`` 1.1 was tried too: it halved ``earning_awards_posted`` but made
    ``redemption_entries`` four times slower; docs/benchmarks.md.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT set_config('work_mem', :m, true), set_config('jit', 'off', true)"),
            {"m": VERIFY_WORK_MEM},
        )


@contextmanager
def merge_plans(session: Session) -> Iterator[None]:
    """Within the block, on PostgreSQL: plan joins and groupings over the index orders (merge
    joins, sorted aggregates), serially, instead of hashing whole tables.

    For a query that joins millions of rows to the postings by entry id, the planner's
    estimates favour hashing all twelve million postings (in parallel workers); walking the
    two indexes in entry order does a third of the work, and this machine has two cores
    shared with the database's other users (docs/benchmarks.md). Restored afterwards.
    """
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    names = ("enable_hashjoin", "enable_hashagg", "max_parallel_workers_per_gather")
    before = session.execute(
        text("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))
    ).one()
    session.execute(
        text(
            "SELECT set_config('enable_hashjoin', 'off', true), "
            "set_config('enable_hashagg', 'off', true), "
            "set_config('max_parallel_workers_per_gather', '0', true)"
        )
    )
    try:
        yield
    finally:
        for name, value in zip(names, before, strict=True):
            session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


def _entries_balanced_result() -> CheckResult:
    return CheckResult("entries_balanced", "every entry has 2+ postings summing to zero")


def check_entries_balanced(session: Session) -> CheckResult:
    """Every entry has at least two postings and they sum to zero. (`credits verify` gets
    this from :func:`check_entries_and_chain`'s pass over the journal on PostgreSQL.)"""
    result = _entries_balanced_result()
    tune_for_verify(session)
    result.checked = int(session.execute(text("SELECT count(*) FROM journal_entry")).scalar_one())
    rows = session.execute(
        text(
            "SELECT e.id, count(p.id), coalesce(sum(p.amount), 0) "
            "FROM journal_entry e LEFT JOIN posting p ON p.entry_id = e.id "
            "GROUP BY e.id HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.id) < 2 "
            "ORDER BY e.id"
        )
    )
    for entry_id, n, total in rows:
        result.add(f"entry {entry_id}: {n} postings summing to {total}")
    return result


@costs(3)
def check_balances_match_postings(session: Session) -> CheckResult:
    """Every account's stored balance equals the sum of its postings."""
    result = CheckResult("balances_match_postings", "stored balances equal sums of postings")
    tune_for_verify(session)
    rows = session.execute(
        text(
            "SELECT a.id, a.code, coalesce(b.stored, 0), coalesce(p.posted, 0), "
            "       coalesce(b.n, 0), a.slots "
            "FROM account a "
            "LEFT JOIN (SELECT account_id, sum(balance) AS stored, count(*) AS n "
            "           FROM account_balance GROUP BY account_id) b ON b.account_id = a.id "
            "LEFT JOIN (SELECT account_id, sum(amount) AS posted "
            "           FROM posting GROUP BY account_id) p ON p.account_id = a.id "
            "ORDER BY a.id"
        )
    )
    for account_id, code, stored, posted, n_slots, slots in rows:
        result.checked += 1
        if int(stored) != int(posted):
            result.add(
                f"account {account_id} ({code}): stored balance {stored}, postings sum to {posted}"
            )
        if int(n_slots) != int(slots):
            result.add(f"account {account_id} ({code}): {n_slots} balance rows, expected {slots}")
    return result


def check_no_negative_members(session: Session) -> CheckResult:
    """No account without permission to go negative is below zero (nor has lost its floor)."""
    result = CheckResult("floors_respected", "no member (floored) balance is negative")
    rows = session.execute(
        text(
            "SELECT a.id, a.code, a.allow_negative, b.allow_negative, b.slot, b.balance "
            "FROM account a JOIN account_balance b ON b.account_id = a.id "
            "WHERE a.type = 'member' OR NOT a.allow_negative"
        )
    )
    for account_id, code, a_neg, b_neg, slot, bal in rows:
        result.checked += 1
        if a_neg or b_neg:
            result.add(f"account {account_id} ({code}) is a member but allowed to go negative")
        if int(bal) < 0:
            result.add(f"account {account_id} ({code}) is negative: {bal} (slot {slot})")
    return result


def _chain_rows(session: Session) -> Iterator[tuple[Any, ...]]:
    e = T_ENTRY.c
    p = T_POSTING.c
    query = (
        select(
            e.id,
            e.lane,
            e.lane_seq,
            e.kind,
            e.memo,
            e.actor,
            e.occurred_at,
            e.recorded_at,
            e.idempotency_key,
            e.reverses_entry_id,
            e.content_hash,
            e.prev_hash,
            e.hash,
            p.account_id,
            p.amount,
        )
        .select_from(T_ENTRY.outerjoin(T_POSTING, p.entry_id == e.id))
        .order_by(e.lane, e.lane_seq, p.account_id)
        .execution_options(yield_per=5000)
    )
    yield from session.execute(query)


def check_hash_chain(session: Session) -> CheckResult:
    """Recompute every entry's content hash and every lane's chain from genesis.

    On PostgreSQL the entries stream out with ``COPY`` (:func:`_streamed`): the database only
    joins each entry to its postings, and Python recomputes every hash with hashlib as the
    rows arrive — the two run side by side, on two cores. Elsewhere, and with ``credits
    verify --thorough``, the reference walk (:func:`check_hash_chain_in_python`) recomputes
    it from the rows as SQLAlchemy reads them. Both report the same problems in the same
    words.
    """
    if session.get_bind().dialect.name == "postgresql":
        return _streamed(session)[1]
    return check_hash_chain_in_python(session)


@costs(28)
def _entries_and_chain_in_python(session: Session) -> tuple[CheckResult, CheckResult]:
    """entries_balanced in SQL, and the hash chain by the reference walk (SQLite, and
    ``--thorough`` everywhere)."""
    return check_entries_balanced(session), check_hash_chain_in_python(session)


_entries_and_chain_in_python.reports = 2  # type: ignore[attr-defined]


@costs(28)
def check_entries_and_chain(session: Session) -> tuple[CheckResult, CheckResult]:
    """entries_balanced and hash_chain. On PostgreSQL both come from the one pass over the
    journal and its postings that the hash chain makes anyway (the postings' count and sum
    per entry ride along), which saves reading the 12 M postings of a borough's year again;
    elsewhere each runs on its own. Same results, same words, either way (tested)."""
    if session.get_bind().dialect.name == "postgresql":
        return _streamed(session)
    return _entries_and_chain_in_python(session)


check_entries_and_chain.reports = 2  # type: ignore[attr-defined]


#: Each entry, in id order (the merge join of two index scans: no sort), with its postings
#: written as the canonical text wants them, its times as microseconds since the epoch — the
#: same expressions as ``ledger_canonical_hash_text`` (migration 0007) — and its postings'
#: count and sum (for entries_balanced, from the same pass). The postings are aggregated in
#: the order they arrive, which is the (entry_id, account_id) index's and so already the
#: canonical order (account, amount; an entry has one posting per account); sorting them
#: cost 3 s of the database's CPU at 12 M postings. Nothing depends on that order for
#: correctness: an entry whose hash does not match is hashed again with its postings
#: sorted in Python before it is reported.
_CHAIN_COPY = """
    COPY (
        SELECT e.id, e.lane, e.lane_seq, e.kind,
               ((extract(epoch FROM e.occurred_at) * 1000000)::numeric(30, 0))::text,
               ((extract(epoch FROM e.recorded_at) * 1000000)::numeric(30, 0))::text,
               coalesce(e.reverses_entry_id::text, '-'), e.memo, e.actor, e.idempotency_key,
               e.content_hash, e.prev_hash, e.hash,
               coalesce(string_agg(p.account_id::text || ':' || p.amount::text, ','), ''),
               count(p.id), coalesce(sum(p.amount), 0)
        FROM journal_entry e LEFT JOIN posting p ON p.entry_id = e.id
        GROUP BY e.id ORDER BY e.id
    ) TO STDOUT
"""

_LANE_HEADS_SQL = text("SELECT lane, seq, head_hash FROM chain_lane ORDER BY lane")

# COPY's text format escapes these (and nothing else) in what it sends.
_COPY_ESCAPES = {
    b"b": b"\x08",
    b"f": b"\x0c",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"v": b"\x0b",
    b"\\": b"\\",
}
_COPY_ESCAPE = re.compile(rb"\\(.)")
_HEX = b"0123456789abcdef"


def _copy_unescape(field: bytes) -> bytes:
    return _COPY_ESCAPE.sub(lambda m: _COPY_ESCAPES.get(m.group(1), m.group(1)), field)


def _is_hex_digest(value: bytes) -> bool:
    return len(value) == 64 and not value.translate(None, _HEX)


class _LaneWalk:
    """One lane walked in ``lane_seq`` order while entries arrive in id order.

    Entries of a lane almost always arrive in sequence (ids and lane numbers are both taken
    in posting order); one that arrives early waits in ``pending`` until the entries before
    it have been seen. Whatever still waits at the end is walked in sequence order, so a gap
    is reported exactly where the reference walk reports it.
    """

    __slots__ = ("last_hash", "last_seq", "pending")

    def __init__(self) -> None:
        self.last_seq = 0
        self.last_hash = chain.GENESIS_HASH.encode()
        self.pending: dict[int, tuple[bytes, bytes, bytes]] = {}


def _sorted_postings(posts: bytes) -> bytes:
    """``account:amount,...`` in the canonical order (by account, then amount)."""
    if not posts:
        return posts
    pairs = [p.split(b":") for p in posts.split(b",")]
    pairs.sort(key=lambda am: (int(am[0]), int(am[1])))
    return b",".join(b":".join(am) for am in pairs)


def _streamed(session: Session) -> tuple[CheckResult, CheckResult]:
    """entries_balanced and hash_chain from one COPY of the journal (PostgreSQL)."""
    balanced = _entries_balanced_result()
    result = CheckResult("hash_chain", "every entry's hash recomputes and each lane chains")
    tune_for_verify(session)
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    if dbapi.info.encoding != "utf-8":  # the canonical text is UTF-8
        return _entries_and_chain_in_python(session)
    # (lane, seq, which rule, message): sorted at the end into the reference walk's order.
    found: list[tuple[int, int, int, str]] = []
    lanes: dict[int, _LaneWalk] = {}
    actors: dict[bytes, bytes] = {}
    sha256, hexlify, unhexlify = hashlib.sha256, binascii.hexlify, binascii.unhexlify
    version = chain.CANONICAL_VERSION.encode()

    def step(walk: _LaneWalk, lane: int, seq: int, eid: bytes, prev: bytes, h: bytes) -> None:
        if seq != walk.last_seq + 1:
            found.append(
                (lane, seq, 0, f"entry {eid.decode()}: lane {lane} jumps from #{walk.last_seq} "
                 f"to #{seq}")
            )  # fmt: skip
        if prev != walk.last_hash:
            found.append(
                (lane, seq, 1, f"entry {eid.decode()}: prev_hash does not match the entry "
                 f"before it on lane {lane}")
            )  # fmt: skip
        walk.last_seq, walk.last_hash = seq, h

    checked = 0
    with dbapi.cursor().copy(_CHAIN_COPY) as copy:
        for block in copy:
            line = bytes(block)
            fields = line[:-1].split(b"\t")
            if b"\\" in line:
                fields = [_copy_unescape(f) for f in fields]
            (eid, lane_b, seq_b, kind, occ, rec, rev, memo, actor, key, chash, prev, h, posts,
             n_posts, total) = fields  # fmt: skip
            checked += 1
            if total != b"0" or n_posts in (b"0", b"1"):
                balanced.add(f"entry {eid.decode()}: {n_posts.decode()} postings summing to "
                             f"{total.decode()}")  # fmt: skip
            lane, seq = int(lane_b), int(seq_b)
            actor_hex = actors.get(actor)
            if actor_hex is None:
                actor_hex = actors[actor] = hexlify(sha256(actor).digest())
            canonical = b"|".join(
                (
                    version,
                    kind,
                    occ,
                    rec,
                    rev,
                    hexlify(sha256(memo).digest()),
                    actor_hex,
                    hexlify(sha256(key).digest()),
                    posts,
                )
            )
            if hexlify(sha256(canonical).digest()) != chash and not _matches_sorted(
                canonical, posts, chash
            ):
                found.append(
                    (lane, seq, 2, f"entry {eid.decode()}: content does not match its hash "
                     "(edited entry or posting)")
                )  # fmt: skip
            if not (
                _is_hex_digest(prev)
                and _is_hex_digest(chash)
                and hexlify(sha256(unhexlify(prev) + unhexlify(chash)).digest()) == h
            ):
                found.append((lane, seq, 3, f"entry {eid.decode()}: chain hash does not recompute"))
            walk = lanes.get(lane)
            if walk is None:
                walk = lanes[lane] = _LaneWalk()
            if seq == walk.last_seq + 1 and not walk.pending:
                step(walk, lane, seq, eid, prev, h)
                continue
            walk.pending[seq] = (eid, prev, h)
            while walk.last_seq + 1 in walk.pending:
                nxt = walk.last_seq + 1
                step(walk, lane, nxt, *walk.pending.pop(nxt))
    for lane, walk in lanes.items():
        for seq in sorted(walk.pending):
            step(walk, lane, seq, *walk.pending[seq])
    result.checked = balanced.checked = checked
    found.sort(key=lambda x: x[:3])
    for *_, problem in found:
        result.add(problem)
    heads = {
        int(lane): (int(seq), str(head)) for lane, seq, head in session.execute(_LANE_HEADS_SQL)
    }
    for lane, (seq, head) in sorted(heads.items()):
        walk = lanes.get(lane) or _LaneWalk()
        if (seq, head.encode()) != (walk.last_seq, walk.last_hash):
            result.add(
                f"lane {lane}: head says #{seq} but the entries end at #{walk.last_seq} "
                "(an entry was removed, added or changed)"
            )
    for lane in sorted(lanes.keys() - heads.keys()):
        result.add(f"lane {lane}: entries on a lane that has no head")
    return balanced, result


def _matches_sorted(canonical: bytes, posts: bytes, chash: bytes) -> bool:
    """True if the entry's hash matches once its postings are in canonical order (they
    arrive in that order whenever the plan reads them by index; this makes sure of it)."""
    ordered = _sorted_postings(posts)
    if ordered == posts:
        return False
    fixed = canonical[: len(canonical) - len(posts)] + ordered
    return binascii.hexlify(hashlib.sha256(fixed).digest()) == chash


_DIGEST = re.compile(r"[0-9a-f]{64}")


def _is_digest(value: object) -> bool:
    """A stored hash that has not been replaced by something else (it is tampered data)."""
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def check_hash_chain_in_python(session: Session) -> CheckResult:
    """The hash-chain check, recomputed entirely in Python (any database)."""
    result = CheckResult("hash_chain", "every entry's hash recomputes and each lane chains")
    lanes = {
        int(lane): (int(seq), str(head))
        for lane, seq, head in session.execute(
            text("SELECT lane, seq, head_hash FROM chain_lane ORDER BY lane")
        )
    }
    walked: dict[int, tuple[int, str]] = {}

    def finish(entry: tuple[Any, ...] | None, postings: list[tuple[int, int]]) -> None:
        if entry is None:
            return
        (eid, lane, seq, kind, memo, actor, occ, rec, key, rev, chash, prev, h) = entry
        result.checked += 1
        last_seq, last_hash = walked.get(lane, (0, chain.GENESIS_HASH))
        if seq != last_seq + 1:
            result.add(f"entry {eid}: lane {lane} jumps from #{last_seq} to #{seq}")
        if prev != last_hash:
            result.add(f"entry {eid}: prev_hash does not match the entry before it on lane {lane}")
        canonical = chain.canonical_text(
            kind=kind,
            occurred_at=occ,
            recorded_at=rec,
            reverses_entry_id=rev,
            memo=memo,
            actor=actor,
            idempotency_key=key,
            postings=postings,
        )
        if chain.content_hash(canonical) != chash:
            result.add(f"entry {eid}: content does not match its hash (edited entry or posting)")
        if not (_is_digest(prev) and _is_digest(chash)) or chain.link_hash(prev, chash) != h:
            result.add(f"entry {eid}: chain hash does not recompute")
        walked[lane] = (seq, h)

    current: tuple[Any, ...] | None = None
    postings: list[tuple[int, int]] = []
    for row in _chain_rows(session):
        entry_cols = tuple(row[:13])
        if current is None or entry_cols[0] != current[0]:
            finish(current, postings)
            current, postings = entry_cols, []
        if row[13] is not None:
            postings.append((int(row[13]), int(row[14])))
    finish(current, postings)

    for lane, (seq, head) in sorted(lanes.items()):
        last_seq, last_hash = walked.get(lane, (0, chain.GENESIS_HASH))
        if (seq, head) != (last_seq, last_hash):
            result.add(
                f"lane {lane}: head says #{seq} but the entries end at #{last_seq} "
                "(an entry was removed, added or changed)"
            )
    for lane in walked.keys() - lanes.keys():
        result.add(f"lane {lane}: entries on a lane that has no head")
    return result


def check_reversals_mirror(session: Session) -> CheckResult:
    """Every reversal posts exactly the negation of the entry it reverses."""
    result = CheckResult("reversals_mirror", "each reversal mirrors the entry it reverses")
    rows = session.execute(
        text(
            "SELECT r.id, r.reverses_entry_id FROM journal_entry r "
            "WHERE r.reverses_entry_id IS NOT NULL "
            "AND (EXISTS (SELECT 1 FROM ("
            "       SELECT account_id, amount FROM posting WHERE entry_id = r.id EXCEPT "
            "       SELECT account_id, -amount FROM posting WHERE entry_id = r.reverses_entry_id"
            "     ) AS extra)"
            "  OR EXISTS (SELECT 1 FROM ("
            "       SELECT account_id, -amount FROM posting WHERE entry_id = r.reverses_entry_id "
            "       EXCEPT SELECT account_id, amount FROM posting WHERE entry_id = r.id"
            "     ) AS missing))"
        )
    )
    result.checked = int(
        session.execute(
            text("SELECT count(*) FROM journal_entry WHERE reverses_entry_id IS NOT NULL")
        ).scalar_one()
    )
    for rid, oid in rows:
        result.add(f"entry {rid} reverses entry {oid} but does not mirror its postings")
    return result


#: The ledger's own checks, in the order `credits verify` runs them. Other capabilities
#: (vouchers, statements) append theirs via credits.verify_checks.
LEDGER_CHECKS: tuple[Check, ...] = (
    check_entries_and_chain,
    check_balances_match_postings,
    check_no_negative_members,
    check_reversals_mirror,
)


def reported(checks: tuple[Check, ...]) -> int:
    """How many results ``checks`` report (a check may report several from one pass)."""
    return sum(int(getattr(c, "reports", 1)) for c in checks)


def thorough(checks: tuple[Check, ...]) -> tuple[Check, ...]:
    """``checks`` with the hash chain recomputed in Python even on PostgreSQL (so a check does
    not rely on the database's own hash function)."""
    swap: dict[Check, Check] = {
        check_hash_chain: check_hash_chain_in_python,
        check_entries_and_chain: _entries_and_chain_in_python,
    }
    return tuple(swap.get(c, c) for c in checks)


def run_checks(
    session: Session,
    checks: tuple[Check, ...] = LEDGER_CHECKS,
    *,
    jobs: int = 1,
    on_done: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run ``checks`` and return every result in the order given (they never stop at the
    first), each with the time it took. ``on_done(result)``, if given, is called as each
    check finishes (from the thread that ran it), e.g. to report progress.

    With ``jobs`` > 1 on PostgreSQL the checks run on that many connections at once, each in
    a read-only REPEATABLE READ transaction that imports the snapshot of ``session``'s
    transaction (``pg_export_snapshot``): every check sees exactly the rows ``session`` sees,
    as when they run one after another in it, and the busiest checks (a Python hash walk
    beside SQL aggregates) share the machine's cores. Serially otherwise — on SQLite, and when
    ``session``'s transaction has written (other connections could not see its writes).
    """
    if jobs > 1 and len(checks) > 1 and _can_share_snapshot(session):
        return _run_in_parallel(session, checks, jobs, on_done)
    results: list[CheckResult] = []
    for check in checks:
        results.extend(_timed(check, session, on_done))
    return results


def _timed(
    check: Check, session: Session, on_done: Callable[[CheckResult], None] | None
) -> tuple[CheckResult, ...]:
    started = time.perf_counter()
    outcome = check(session)
    results = outcome if isinstance(outcome, tuple) else (outcome,)
    elapsed = time.perf_counter() - started
    for result in results:
        # Results of one shared pass each report the pass's time.
        result.elapsed_s = elapsed
        if on_done is not None:
            on_done(result)
    return results


def _can_share_snapshot(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return False
    # No transaction id yet = nothing written: the snapshot holds all this transaction sees.
    return bool(
        session.execute(text("SELECT pg_current_xact_id_if_assigned() IS NULL")).scalar_one()
    )


def _run_in_parallel(
    session: Session,
    checks: tuple[Check, ...],
    jobs: int,
    on_done: Callable[[CheckResult], None] | None,
) -> list[CheckResult]:
    snapshot = session.execute(text("SELECT pg_export_snapshot()")).scalar_one()
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    # Costliest first (longest-processing-time scheduling): the short checks fill in at the
    # end, where a long check started last would run alone beside an idle core (measured:
    # month_snapshots, last in the list, ran its 10 s alone).
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in sorted(range(len(checks)), key=lambda i: -float(getattr(checks[i], "cost_s", 1))):
        todo.put(i)
    results: dict[int, tuple[CheckResult, ...]] = {}
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            with engine.connect() as conn:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin(), Session(bind=conn) as worker_session:
                    # Must be the transaction's first statement.
                    conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                    conn.execute(text("SET TRANSACTION READ ONLY"))
                    # The checks already run side by side: a parallel plan's extra workers
                    # would only compete for the same cores, and its partial aggregates and
                    # gather cost CPU a plan on one core does not spend (balances: 3.2 s on
                    # one core, 1.9 s on three). Measured: 120 -> 106 core-s for all checks.
                    conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                    while not failures:
                        try:
                            i = todo.get_nowait()
                        except queue.Empty:
                            return
                        results[i] = _timed(checks[i], worker_session, on_done)
        except BaseException as exc:  # re-raised in the caller's thread
            failures.append(exc)

    threads = [
        threading.Thread(target=worker, name=f"verify-{n}", daemon=True)
        for n in range(min(jobs, len(checks)))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return [r for i in range(len(checks)) for r in results[i]]
