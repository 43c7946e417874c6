"""Reconciliation: prove the ledger's rules hold over everything stored.

Each check returns every problem it finds (not just the first), so an officer sees the
whole extent of a fault. `credits verify` prints each check and exits 1 if any failed; the
month close (credits.statements) runs these and more.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from credits.ledger import chain
from credits.ledger.models import T_ENTRY, T_POSTING

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


def check_entries_balanced(session: Session) -> CheckResult:
    """Every entry has at least two postings and they sum to zero."""
    result = CheckResult("entries_balanced", "every entry has 2+ postings summing to zero")
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


def check_balances_match_postings(session: Session) -> CheckResult:
    """Every account's stored balance equals the sum of its postings."""
    result = CheckResult("balances_match_postings", "stored balances equal sums of postings")
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

    On PostgreSQL the recomputation runs in the database (:func:`_hash_chain_in_sql`): one
    pass, in C, instead of shipping every entry and posting to Python. Elsewhere, and with
    ``credits verify --thorough``, Python recomputes it (:func:`check_hash_chain_in_python`).
    The two report the same problems in the same words.
    """
    if session.get_bind().dialect.name == "postgresql":
        return _hash_chain_in_sql(session)
    return check_hash_chain_in_python(session)


_CHAIN_SQL = text(
    """
    WITH agg AS (
        SELECT e.id, e.lane, e.lane_seq, e.content_hash, e.prev_hash, e.hash,
               ledger_canonical_hash_text(
                   e.kind, e.occurred_at, e.recorded_at, e.reverses_entry_id, e.memo,
                   e.actor, e.idempotency_key,
                   coalesce(string_agg(p.account_id::text || ':' || p.amount::text, ','
                                       ORDER BY p.account_id, p.amount), '')) AS recomputed
        FROM journal_entry e LEFT JOIN posting p ON p.entry_id = e.id
        GROUP BY e.id
    ), chained AS (
        SELECT agg.*, lag(hash) OVER w AS lane_prev_hash, lag(lane_seq) OVER w AS lane_prev_seq
        FROM agg WINDOW w AS (PARTITION BY lane ORDER BY lane_seq)
    ), judged AS (
        SELECT id, lane, lane_seq, coalesce(lane_prev_seq, 0) AS last_seq,
               lane_seq <> coalesce(lane_prev_seq, 0) + 1 AS bad_seq,
               prev_hash <> coalesce(lane_prev_hash, repeat('0', 64)) AS bad_prev,
               recomputed <> content_hash AS bad_content,
               NOT (prev_hash ~ '^[0-9a-f]{64}$' AND content_hash ~ '^[0-9a-f]{64}$'
                    AND hash = encode(sha256(decode(prev_hash, 'hex')
                                             || decode(content_hash, 'hex')), 'hex'))
                   AS bad_link
        FROM chained
    )
    SELECT (SELECT count(*) FROM agg) AS checked, id, lane, lane_seq, last_seq,
           bad_seq, bad_prev, bad_content, bad_link
    FROM judged RIGHT JOIN (SELECT 1) one ON bad_seq OR bad_prev OR bad_content OR bad_link
    ORDER BY lane, lane_seq
    """
)

_LANE_HEADS_SQL = text(
    "SELECT l.lane, l.seq, l.head_hash, coalesce(last.lane_seq, 0), "
    "       coalesce(last.hash, repeat('0', 64)) "
    "FROM chain_lane l LEFT JOIN LATERAL ("
    "  SELECT lane_seq, hash FROM journal_entry e WHERE e.lane = l.lane "
    "  ORDER BY lane_seq DESC LIMIT 1) last ON true ORDER BY l.lane"
)


def _hash_chain_in_sql(session: Session) -> CheckResult:
    result = CheckResult("hash_chain", "every entry's hash recomputes and each lane chains")
    for row in session.execute(_CHAIN_SQL):
        result.checked = int(row.checked)
        if row.id is None:
            continue
        eid, lane = row.id, row.lane
        if row.bad_seq:
            result.add(f"entry {eid}: lane {lane} jumps from #{row.last_seq} to #{row.lane_seq}")
        if row.bad_prev:
            result.add(f"entry {eid}: prev_hash does not match the entry before it on lane {lane}")
        if row.bad_content:
            result.add(f"entry {eid}: content does not match its hash (edited entry or posting)")
        if row.bad_link:
            result.add(f"entry {eid}: chain hash does not recompute")
    for lane, seq, head, last_seq, last_hash in session.execute(_LANE_HEADS_SQL):
        if (seq, head) != (last_seq, last_hash):
            result.add(
                f"lane {lane}: head says #{seq} but the entries end at #{last_seq} "
                "(an entry was removed, added or changed)"
            )
    orphans = session.execute(
        text(
            "SELECT DISTINCT lane FROM journal_entry "
            "WHERE lane NOT IN (SELECT lane FROM chain_lane) ORDER BY lane"
        )
    ).scalars()
    for lane in orphans:
        result.add(f"lane {lane}: entries on a lane that has no head")
    return result


_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _is_digest(value: object) -> bool:
    """A stored hash that has not been replaced by something else (it is tampered data)."""
    return isinstance(value, str) and _DIGEST.match(value) is not None


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
#: (vouchers, statements) append theirs via credits.reconcile.
LEDGER_CHECKS: tuple[Callable[[Session], CheckResult], ...] = (
    check_entries_balanced,
    check_balances_match_postings,
    check_no_negative_members,
    check_hash_chain,
    check_reversals_mirror,
)


def thorough(
    checks: tuple[Callable[[Session], CheckResult], ...],
) -> tuple[Callable[[Session], CheckResult], ...]:
    """``checks`` with the hash chain recomputed in Python even on PostgreSQL (so a check does
    not rely on the database's own hash function)."""
    return tuple(check_hash_chain_in_python if c is check_hash_chain else c for c in checks)


def run_checks(
    session: Session, checks: tuple[Callable[[Session], CheckResult], ...] = LEDGER_CHECKS
) -> list[CheckResult]:
    """Run ``checks`` in order and return every result (they never stop at the first), each
    with the time it took."""
    results = []
    for check in checks:
        started = time.perf_counter()
        result = check(session)
        result.elapsed_s = time.perf_counter() - started
        results.append(result)
    return results
