"""Rule 3 under real concurrency: threads against PostgreSQL (SQLite serialises writers)."""

import random
import threading
from collections import Counter

import pytest

from credits import ledger
from credits.ledger import EntryKind as K

from .ledger_helpers import all_ok, bal, open_member, post, scheme

pytestmark = pytest.mark.postgres


def run_threads(n, target):
    barrier = threading.Barrier(n)
    outcomes: list[object] = [None] * n

    def worker(i):
        barrier.wait()
        try:
            outcomes[i] = target(i)
        except Exception as exc:  # collected and asserted on below
            outcomes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_32_threads_overspending_one_member(db):
    issuance, vouchers = scheme(db, ledger.ISSUANCE), scheme(db, ledger.VOUCHERS_OUTSTANDING)
    ann = open_member(db, "ann")
    post(db, K.EARN, {issuance: -100, ann: 100}, "seed")
    rng = random.Random(7)
    amounts = [rng.randint(1, 12) for _ in range(32)]

    outcomes = run_threads(
        32,
        lambda i: post(db, K.VOUCHER_ISSUE, {ann: -amounts[i], vouchers: amounts[i]}, f"spend-{i}"),
    )
    kinds = Counter(type(o).__name__ for o in outcomes)
    assert set(kinds) <= {"PostedEntry", "InsufficientFunds"}, outcomes  # no deadlock leaks
    accepted = sum(
        a for a, o in zip(amounts, outcomes, strict=True) if isinstance(o, ledger.PostedEntry)
    )
    assert kinds["InsufficientFunds"] > 0, "the balance was meant to cover only some spends"
    assert bal(db, ann) == 100 - accepted >= 0
    assert bal(db, vouchers) == accepted
    # The balance only falls, so a spend refused for not fitting must not fit the end balance.
    final = bal(db, ann)
    refused = [
        a for a, o in zip(amounts, outcomes, strict=True) if isinstance(o, ledger.InsufficientFunds)
    ]
    assert all(a > final for a in refused), (refused, final)
    assert all_ok(db) == []


def test_32_threads_spending_exactly_the_balance(db):
    issuance, vouchers = scheme(db, ledger.ISSUANCE), scheme(db, ledger.VOUCHERS_OUTSTANDING)
    ann = open_member(db, "ann")
    post(db, K.EARN, {issuance: -70, ann: 70}, "seed")
    outcomes = run_threads(32, lambda i: post(db, K.VOUCHER_ISSUE, {ann: -5, vouchers: 5}, f"s{i}"))
    assert sum(isinstance(o, ledger.PostedEntry) for o in outcomes) == 14
    assert sum(isinstance(o, ledger.InsufficientFunds) for o in outcomes) == 18
    assert bal(db, ann) == 0
    assert all_ok(db) == []


def test_opposite_transfers_between_two_members_never_deadlock(db):
    """A→B and B→A at once would deadlock with naive locking; ordered locking cannot."""
    issuance = scheme(db, ledger.ISSUANCE)
    a, b = open_member(db, "a"), open_member(db, "b")
    post(db, K.EARN, {issuance: -1000, a: 500, b: 500}, "seed")

    def transfers(i):
        done = 0
        for j in range(10):
            src, dst = (a, b) if (i + j) % 2 else (b, a)
            post(db, K.ADJUSTMENT, {src: -3, dst: 3}, f"t-{i}-{j}")
            done += 1
        return done

    outcomes = run_threads(16, transfers)
    assert outcomes == [10] * 16, outcomes
    assert bal(db, a) + bal(db, b) == 1000
    assert all_ok(db) == []


def test_concurrent_retries_with_one_key_post_once(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    outcomes = run_threads(16, lambda i: post(db, K.EARN, {issuance: -10, ann: 10}, "same-key"))
    assert all(isinstance(o, ledger.PostedEntry) for o in outcomes), outcomes
    assert len({o.id for o in outcomes}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert bal(db, ann) == 10
    assert all_ok(db) == []


def test_concurrent_reversals_of_one_entry_reverse_it_once(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    award = post(db, K.EARN, {issuance: -10, ann: 10}, "award")
    outcomes = run_threads(
        8,
        lambda i: db.run(
            lambda s: ledger.reverse(s, award.id, memo="x", actor="o", idempotency_key=f"rev-{i}")
        ),
    )
    kinds = Counter(type(o).__name__ for o in outcomes)
    assert kinds == Counter({"PostedEntry": 1, "AlreadyReversed": 7}), outcomes
    assert bal(db, ann) == 0
    assert all_ok(db) == []
