"""Conservation of credits, as a property: random postings, reversals and retries against a
simple model. After every step: each entry balanced, stored balances equal sums of postings,
no member negative, and the model agrees with the ledger."""

from __future__ import annotations

import itertools

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import text

from credits import ledger
from credits.db import Database
from credits.ledger import EntryKind as K

_run = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    db: Database  # set by the test below

    @initialize()
    def setup(self) -> None:
        run = next(_run)
        # Keys carry the run's number: id(self) is reused by a later machine once this one is
        # collected, and its keys would then replay (or conflict with) this one's entries.
        self.run = run
        self.key = itertools.count()

        def open_all(s):
            members = [
                ledger.open_account(
                    s, code=f"member:p{run}-{i}", type=ledger.AccountType.MEMBER, name=f"m{i}"
                ).id
                for i in range(3)
            ]
            shop = ledger.open_account(
                s, code=f"shop:p{run}", type=ledger.AccountType.SHOP, name="shop"
            ).id
            return (
                members,
                shop,
                ledger.scheme_account(s, ledger.ISSUANCE).id,
                ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id,
            )

        self.members, self.shop, self.issuance, self.vouchers = self.db.run(open_all)
        with self.db.read() as s:
            self.model = {
                a: ledger.balance(s, a)
                for a in [*self.members, self.shop, self.issuance, self.vouchers]
            }
        self.posted: list[tuple[ledger.EntryRequest, ledger.PostedEntry]] = []
        self.reversed: set[int] = set()

    def _post(self, kind: K, legs: dict[int, int]) -> None:
        request = ledger.EntryRequest(
            kind=kind,
            legs=tuple(ledger.Leg(a, amt) for a, amt in legs.items()),
            memo=kind.value,
            actor="hypothesis",
            idempotency_key=f"prop-{self.run}-{next(self.key)}",
        )
        would_go_negative = any(
            self.model[a] + amt < 0 for a, amt in legs.items() if a in self.members
        )
        try:
            entry = self.db.run(lambda s: ledger.post_entry(s, request))
        except ledger.InsufficientFunds:
            assert would_go_negative, "refused a spend the model says fits"
            return
        assert not would_go_negative, "accepted a spend that takes a member below zero"
        for a, amt in legs.items():
            self.model[a] += amt
        self.posted.append((request, entry))

    @rule(member=st.integers(0, 2), amount=st.integers(1, 50))
    def earn(self, member: int, amount: int) -> None:
        self._post(K.EARN, {self.issuance: -amount, self.members[member]: amount})

    @rule(member=st.integers(0, 2), amount=st.integers(1, 60))
    def issue_voucher(self, member: int, amount: int) -> None:
        self._post(K.VOUCHER_ISSUE, {self.members[member]: -amount, self.vouchers: amount})

    @rule(src=st.integers(0, 2), dst=st.integers(0, 2), amount=st.integers(1, 40))
    def transfer(self, src: int, dst: int, amount: int) -> None:
        if src != dst:
            self._post(K.ADJUSTMENT, {self.members[src]: -amount, self.members[dst]: amount})

    @rule(member=st.integers(0, 2), amount=st.integers(1, 40), change=st.integers(0, 10))
    def redeem_with_change(self, member: int, amount: int, change: int) -> None:
        legs = {self.vouchers: -(amount + change), self.shop: amount}
        if change:
            legs[self.members[member]] = change
        self._post(K.REDEEM, legs)

    @precondition(lambda self: bool(self.posted))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        request, entry = data.draw(st.sampled_from(self.posted))
        key = f"rev-{entry.id}-{next(self.key)}"
        if entry.kind is K.REVERSAL:
            with pytest.raises(ledger.InvalidEntry):
                self.db.run(
                    lambda s: ledger.reverse(s, entry.id, memo="r", actor="h", idempotency_key=key)
                )
            return
        mirrored = {p.account_id: -p.amount_credits for p in entry.postings}
        would_go_negative = any(
            self.model[a] + amt < 0 for a, amt in mirrored.items() if a in self.members
        )
        try:
            rev = self.db.run(
                lambda s: ledger.reverse(s, entry.id, memo="r", actor="h", idempotency_key=key)
            )
        except ledger.AlreadyReversed:
            assert entry.id in self.reversed
            return
        except ledger.InsufficientFunds:
            assert would_go_negative and entry.id not in self.reversed
            return
        assert entry.id not in self.reversed and not would_go_negative
        self.reversed.add(entry.id)
        for a, amt in mirrored.items():
            self.model[a] += amt
        self.posted.append((request, rev))

    @precondition(lambda self: bool(self.posted))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        request, entry = data.draw(st.sampled_from(self.posted))
        if entry.kind is K.REVERSAL:
            return
        again = self.db.run(lambda s: ledger.post_entry(s, request))
        assert again.replayed and again.id == entry.id

    @precondition(lambda self: bool(self.posted))
    @rule(data=st.data())
    def conflicting_retry(self, data: st.DataObject) -> None:
        request, entry = data.draw(st.sampled_from(self.posted))
        if entry.kind is K.REVERSAL:
            return
        legs = tuple(ledger.Leg(leg.account_id, leg.amount_credits * 2) for leg in request.legs)
        changed = ledger.EntryRequest(
            kind=request.kind,
            legs=legs,
            memo=request.memo,
            actor=request.actor,
            idempotency_key=request.idempotency_key,
        )
        with pytest.raises(ledger.IdempotencyConflict):
            self.db.run(lambda s: ledger.post_entry(s, changed))

    @invariant()
    def ledger_agrees_with_model_and_rules(self) -> None:
        if not hasattr(self, "model"):
            return
        with self.db.read() as s:
            for account_id, expected in self.model.items():
                assert ledger.balance(s, account_id) == expected
            unbalanced = s.execute(
                text(
                    "SELECT count(*) FROM (SELECT entry_id FROM posting GROUP BY entry_id "
                    "HAVING sum(amount) <> 0) x"
                )
            ).scalar_one()
            assert unbalanced == 0
            mismatched = s.execute(
                text(
                    "SELECT count(*) FROM account a WHERE "
                    "(SELECT coalesce(sum(balance), 0) FROM account_balance b "
                    " WHERE b.account_id = a.id) <> "
                    "(SELECT coalesce(sum(amount), 0) FROM posting p WHERE p.account_id = a.id)"
                )
            ).scalar_one()
            assert mismatched == 0
            negative = s.execute(
                text(
                    "SELECT count(*) FROM account_balance WHERE NOT allow_negative AND balance < 0"
                )
            ).scalar_one()
            assert negative == 0

    def teardown(self) -> None:
        if hasattr(self, "model"):
            with self.db.read() as s:
                assert [p for r in ledger.run_checks(s) for p in r.problems] == []


def test_ledger_state_machine(db: Database) -> None:
    LedgerMachine.db = db
    runner = LedgerMachine.TestCase
    runner.settings = settings(
        max_examples=25,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    runner().runTest()
