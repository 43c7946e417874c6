"""Redeeming online: the journal is written before the request, retries reuse the stored
key, and a lost answer (commit, then the connection drops) never redeems twice."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import pytest

from shop_terminal.store import Store
from shop_terminal.terminal import Terminal
from tests.terminal.fake_ledger import FakeLedger

REDEEM = ("POST", "/api/v1/redemptions")


def test_redeem_all_online(terminal: Terminal, fake_ledger: FakeLedger):
    code = fake_ledger.issue(15)
    out = terminal.scan(code)
    assert out.exit_code == 0 and out.ok
    assert out.scan.state == "redeemed" and out.scan.redeemed_amount == 15
    assert out.message.tone == "yes" and out.message.big == "15 credits"
    assert fake_ledger.balances["shop:1"] == 15
    assert fake_ledger.balances["vouchers_outstanding"] == 0
    # The journal holds the request exactly as sent, with its key.
    (sub,) = terminal.store.submissions_of(out.scan.id)
    assert sub.state == "answered" and sub.response_status == 201
    assert json.loads(sub.body)["idempotency_key"] == sub.idempotency_key


def test_redeem_part_returns_the_change(terminal: Terminal, fake_ledger: FakeLedger):
    out = terminal.scan(fake_ledger.issue(15, member="bob"), amount=12)
    assert out.scan.state == "redeemed" and out.scan.redeemed_amount == 12
    assert out.scan.change == 3
    assert "3 credits go back to the customer" in " ".join(out.message.lines)
    assert fake_ledger.balances["shop:1"] == 12 and fake_ledger.balances["member:bob"] == -12


def test_more_than_the_face_value_is_refused_without_asking(
    terminal: Terminal, fake_ledger: FakeLedger
):
    out = terminal.scan(fake_ledger.issue(10), amount=12)
    assert out.exit_code == 1 and out.scan.reason == "amount_exceeds_voucher"
    assert out.message.title == "This voucher is only worth 10 credits."
    assert fake_ledger.count(*REDEEM) == 0


def test_already_used_elsewhere_names_the_shop_and_time(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    here, there = make_terminal(1, "till-a"), make_terminal(2, "till-b")
    code = fake_ledger.issue(15)
    assert there.scan(code).scan.state == "redeemed"
    out = here.scan(code)
    assert out.exit_code == 1 and out.scan.reason == "already_redeemed"
    assert out.message.title.startswith("This voucher was already used at Herne Hill Hardware at ")
    # Scanned again here: refused from this terminal's own journal, no request.
    before = fake_ledger.count(*REDEEM)
    again = there.scan(code)
    assert again.message.title.startswith("This voucher was already used here at ")
    assert fake_ledger.count(*REDEEM) == before


@pytest.mark.parametrize(
    "reason", ["expired", "invalid_signature", "unknown_key", "malformed_code"]
)
def test_bad_codes_are_refused_locally_and_journaled(
    terminal: Terminal, fake_ledger: FakeLedger, reason: str
):
    from tests.terminal.voucher_signer import SigningKey, sign_code

    code = {
        "expired": lambda: fake_ledger.issue(5, expires_in_s=-1),
        "invalid_signature": lambda: (
            (c := fake_ledger.issue(5))[:40] + ("A" if c[40] != "A" else "B") + c[41:]
        ),
        "unknown_key": lambda: sign_code(
            SigningKey.generate(), face_value=5, expires_at=2_000_000_000
        ),
        "malformed_code": lambda: "hello",
    }[reason]()
    out = terminal.scan(code)
    assert out.exit_code == 1 and out.scan.state == "refused" and out.scan.reason == reason
    assert out.message.tone == "no" and "_" not in out.message.title  # words, not codes
    assert out.message.title == (
        "This voucher has expired." if reason == "expired" else "This is not a valid voucher."
    )
    assert fake_ledger.count(*REDEEM) == 0
    assert terminal.store.scan(out.scan.id) is not None


def test_cancelled_voucher(terminal: Terminal, fake_ledger: FakeLedger):
    code = fake_ledger.issue(5)
    fake_ledger.cancel(next(iter(fake_ledger.vouchers)))
    out = terminal.scan(code)
    assert out.scan.reason == "voucher_cancelled"
    assert out.message.title == "This voucher was cancelled by its owner."


def test_commit_then_dropped_connection_is_retried_with_the_same_key(
    terminal: Terminal, fake_ledger: FakeLedger
):
    code = fake_ledger.issue(15)
    fake_ledger.drop_after_commit = 1
    out = terminal.scan(code)
    # The first answer was lost; the retry with the stored key got the first result.
    assert out.scan.state == "redeemed" and out.exit_code == 0
    assert len(fake_ledger.redemptions) == 1
    assert out.scan.redemption_id == fake_ledger.redemptions[0]["id"]
    assert fake_ledger.balances["shop:1"] == 15
    (sub,) = terminal.store.submissions_of(out.scan.id)
    assert sub.attempts == 2
    assert fake_ledger.count(*REDEEM, 201) == 1 and fake_ledger.count(*REDEEM, -1) == 1


def test_timeout_after_commit_then_sync_returns_the_first_result(
    terminal: Terminal, fake_ledger: FakeLedger
):
    """The ledger commits but answers too late: the screen falls back to the offline rules
    (here: accepted offline), and sync resolves the stored key — one redemption, no exception."""
    code = fake_ledger.issue(15)
    fake_ledger.delay_after_commit_s = 2.0  # > read timeout (1 s)
    out = terminal.scan(code)
    assert out.scan.state == "queued" and out.exit_code == 3
    fake_ledger.delay_after_commit_s = 0
    report = terminal.sync()
    assert report.reachable and report.resolved == 1 and report.sent == 0
    scan = terminal.store.scan(out.scan.id)
    assert scan is not None and scan.state == "redeemed"
    assert scan.redemption_id == fake_ledger.redemptions[0]["id"]
    assert len(fake_ledger.redemptions) == 1 and not fake_ledger.exceptions
    assert fake_ledger.balances["shop:1"] == 15 and fake_ledger.balances["adjustments"] == 0
    # The offline submission was retired, never sent.
    assert [s.state for s in terminal.store.submissions_of(scan.id)] == ["answered", "superseded"]


def test_a_crash_between_send_and_answer_is_resolved_with_the_stored_key(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    """The terminal writes the scan and its request, sends it, and dies before the answer
    (simulated: the request is sent by hand from the stored body and the answer thrown away).
    A new process finds the pending scan; sync resends the stored body and gets the first
    result."""
    terminal = make_terminal()
    code = fake_ledger.issue(15)
    voucher = terminal._verify(code, terminal.trust_list())
    scan, sub = terminal.store.record_scan(
        code=code,
        source="cli",
        state="pending",
        voucher=voucher,
        amount=15,
        online_body={"code": code, "amount": 15},
    )
    assert sub is not None
    terminal.client.redeem(sub.body)  # reaches the ledger; the answer is "lost"
    assert len(fake_ledger.redemptions) == 1
    # A new process on the same data folder:
    reborn = Terminal(terminal.config)
    try:
        assert reborn.store.scan(scan.id).state == "pending"  # type: ignore[union-attr]
        # Scanning the voucher again meanwhile: resolved first, then "already used here".
        again = reborn.scan(code)
        assert again.scan.reason == "already_redeemed"
        first = reborn.store.scan(scan.id)
        assert first is not None and first.state == "redeemed"
        assert first.redemption_id == fake_ledger.redemptions[0]["id"]
        assert first.needs_attention  # the screen never showed its result
        assert len(fake_ledger.redemptions) == 1 and fake_ledger.balances["shop:1"] == 15
    finally:
        reborn.close()


def test_the_scan_is_on_disk_before_the_request_is_sent(
    terminal: Terminal, fake_ledger: FakeLedger, monkeypatch: pytest.MonkeyPatch
):
    code = fake_ledger.issue(15)
    seen: list[tuple[str, str]] = []
    real = terminal.client.redeem

    def spy(body: str):
        # Another connection sees the committed scan and its exact request body.
        with sqlite3.connect(terminal.config.store_path) as conn:
            seen.extend(
                conn.execute(
                    "SELECT c.state, s.body FROM submission s JOIN scan c ON c.id = s.scan_id"
                ).fetchall()
            )
        return real(body)

    monkeypatch.setattr(terminal.client, "redeem", spy)
    terminal.scan(code)
    assert seen == [("pending", seen[0][1])] and json.loads(seen[0][1])["code"] == code


def test_a_reposted_counter_form_does_not_scan_twice(terminal: Terminal, fake_ledger: FakeLedger):
    code = fake_ledger.issue(15)
    first = terminal.scan(code, form_id="form-1", source="scanner")
    second = terminal.scan(code, form_id="form-1", source="scanner")
    assert first.scan.id == second.scan.id and second.scan.state == "redeemed"
    assert fake_ledger.count(*REDEEM) == 1


def test_store_survives_reopening(terminal: Terminal, fake_ledger: FakeLedger):
    out = terminal.scan(fake_ledger.issue(7))
    again = Store(terminal.config.store_path).scan(out.scan.id)
    assert again is not None and again.state == "redeemed" and again.redeemed_amount == 7
