"""Offline mode: floor limit and caps while the ledger is down, then sync when it is back;
the same voucher accepted offline at two terminals becomes one redemption and one exception.

The fake ledger's limits (tests/terminal/fake_ledger.py): floor_limit 20, max_count 3,
max_total 50.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shop_terminal.terminal import Terminal
from tests.terminal.fake_ledger import FakeLedger

REDEEM = ("POST", "/api/v1/redemptions")


def test_ledger_down_accepts_within_limits_and_syncs_when_back(
    terminal: Terminal, fake_ledger: FakeLedger
):
    codes = [
        fake_ledger.issue(v, member=m)
        for v, m in [(20, "ann"), (15, "bob"), (30, "cat"), (12, "dan"), (18, "eve"), (9, "fay")]
    ]
    fake_ledger.stop()

    a = terminal.scan(codes[0])  # 20: exactly the floor limit
    assert a.scan.state == "queued" and a.exit_code == 3 and a.message.tone == "yes"
    assert a.message.title == "Accepted offline."
    assert not terminal.online()

    b = terminal.scan(codes[1])  # 15: total now 35
    assert b.scan.state == "queued"

    c = terminal.scan(codes[2])  # 30 > floor 20: can't accept now
    assert (
        c.scan.state == "declined" and c.exit_code == 4 and c.scan.reason == ("offline_floor_limit")
    )
    assert c.message.title == "Can't accept this voucher now."
    assert "at most 20 credits" in " ".join(c.message.lines)

    c2 = terminal.scan(codes[2], amount=10)  # part of it, within the floor: accepted
    assert c2.scan.state == "queued" and c2.scan.amount == 10  # total 45, count 3

    d = terminal.scan(codes[3])  # a 4th: over max_count 3
    assert d.scan.state == "declined" and d.scan.reason == "offline_count_cap"
    assert terminal.store.queue_summary() == (3, 45)

    again = terminal.scan(codes[0])  # already in this terminal's journal
    assert again.scan.state == "refused" and again.scan.reason == "already_redeemed"
    assert again.message.title.startswith("This voucher was already used here at")

    assert fake_ledger.count(*REDEEM) == 0  # nothing reached the ledger

    fake_ledger.start()
    report = terminal.sync()
    assert report.reachable and report.sent == 3 and report.still_queued == 0
    assert not report.exceptions and not report.refused
    assert terminal.online()
    assert fake_ledger.balances["shop:1"] == 20 + 15 + 10
    assert fake_ledger.balances["member:cat"] == -30 + 20  # change of the partial one
    assert fake_ledger.balances["vouchers_outstanding"] == 12 + 18 + 9
    assert all(r["offline"] for r in fake_ledger.redemptions)
    for out in (a, b, c2):
        scan = terminal.store.scan(out.scan.id)
        assert scan is not None and scan.state == "redeemed" and not scan.needs_attention
    # The journal went up: every scan with a readable voucher, with its settled outcome.
    outcomes = sorted(e["outcome"] for e in fake_ledger.journal.values())
    assert outcomes == ["redeemed"] * 3 + ["refused"] * 3
    # Syncing again sends nothing more.
    before = fake_ledger.count(*REDEEM)
    assert terminal.sync().sent == 0 and fake_ledger.count(*REDEEM) == before
    # And the declined voucher can now be redeemed online.
    assert terminal.scan(codes[3]).scan.state == "redeemed"


def test_floor_limit_boundary(terminal: Terminal, fake_ledger: FakeLedger):
    over, at = fake_ledger.issue(21), fake_ledger.issue(21)
    fake_ledger.stop()
    assert terminal.scan(over).scan.reason == "offline_floor_limit"  # 21 > 20
    assert terminal.scan(at, amount=20).scan.state == "queued"  # 20 of 21: within


def test_offline_request_waits_until_the_online_one_is_known(
    terminal: Terminal, fake_ledger: FakeLedger
):
    """A scan whose online request's answer was lost is queued offline; while a sync still
    gets no answer for the online request, the offline one must not be sent (both could
    redeem). Once the online one is known to have gone through, the offline one is never
    sent."""
    code = fake_ledger.issue(15)
    fake_ledger.delay_after_commit_s = 2.0  # committed; the answer comes too late
    out = terminal.scan(code)
    assert out.scan.state == "queued"
    fake_ledger.delay_after_commit_s = 0
    fake_ledger.hang_up = True  # the ledger now hangs up on every redemption
    report = terminal.sync()
    assert report.unanswered == 1 and report.sent == 0 and report.still_unresolved == 1
    assert not any("offline_accepted_at" in b for b in fake_ledger.received)
    fake_ledger.hang_up = False
    report = terminal.sync()
    assert report.resolved == 1 and report.sent == 0 and report.still_queued == 0
    assert not any("offline_accepted_at" in b for b in fake_ledger.received)
    assert len(fake_ledger.redemptions) == 1 and not fake_ledger.exceptions


def test_total_cap(terminal: Terminal, fake_ledger: FakeLedger):
    codes = [fake_ledger.issue(20) for _ in range(3)]
    fake_ledger.stop()
    assert terminal.scan(codes[0]).scan.state == "queued"
    assert terminal.scan(codes[1]).scan.state == "queued"  # 40 held
    out = terminal.scan(codes[2])  # 60 > max_total 50
    assert out.scan.state == "declined" and out.scan.reason == "offline_total_cap"
    assert "limit of 50 credits" in " ".join(out.message.lines)
    assert terminal.scan(codes[2], amount=10).scan.state == "queued"  # exactly 50


def test_offline_still_refuses_bad_and_expired_codes(terminal: Terminal, fake_ledger: FakeLedger):
    expired = fake_ledger.issue(5, expires_in_s=-5)
    good = fake_ledger.issue(5)
    tampered = good[:50] + ("0" if good[50] != "0" else "1") + good[51:]
    fake_ledger.stop()
    assert terminal.scan(expired).scan.reason == "expired"
    assert terminal.scan(tampered).scan.reason == "invalid_signature"
    assert terminal.store.queue_summary() == (0, 0)


def test_same_voucher_offline_at_two_terminals_one_redemption_one_exception(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    here, there = make_terminal(1, "till-a"), make_terminal(2, "till-b")
    code = fake_ledger.issue(15, member="mo")
    fake_ledger.stop()
    assert here.scan(code).scan.state == "queued"
    assert there.scan(code).scan.state == "queued"  # each terminal only knows its journal
    fake_ledger.start()

    first = here.sync()
    assert [s.state for s in first.redeemed] == ["redeemed"] and not first.exceptions
    second = there.sync()
    assert not second.redeemed and len(second.exceptions) == 1

    assert len(fake_ledger.redemptions) == 2
    assert [r["status"] for r in fake_ledger.redemptions] == ["redeemed", "exception"]
    assert len(fake_ledger.exceptions) == 1
    # Both shops are paid; the second from the scheme's adjustments; credits conserved.
    assert fake_ledger.balances["shop:1"] == 15 and fake_ledger.balances["shop:2"] == 15
    assert fake_ledger.balances["adjustments"] == -15
    assert sum(fake_ledger.balances.values()) == 0

    # The exception is shown at the terminal that took it.
    (flagged,) = there.store.attention()
    assert flagged.state == "exception" and flagged.reason == "already_redeemed"
    msg = there.outcome(flagged).message
    assert msg.title == "Accepted offline — but it was used elsewhere."
    assert any("still pays your shop" in line for line in msg.lines)
    assert not here.store.attention()
    assert fake_ledger.journal[flagged.id]["outcome"] == "exception"


def test_offline_voucher_expiring_before_sync_is_still_paid(
    terminal: Terminal, fake_ledger: FakeLedger
):
    now = [time.time()]  # one clock for the ledger and the terminal, moved by hand
    fake_ledger.clock = terminal.clock = lambda: now[0]
    code = fake_ledger.issue(8, expires_in_s=2)
    fake_ledger.stop()
    out = terminal.scan(code)
    assert out.scan.state == "queued"
    now[0] += 60  # the voucher expires before the ledger is back
    (voucher,) = fake_ledger.vouchers.values()
    assert voucher.expires_at < now[0]
    fake_ledger.start()
    report = terminal.sync()
    assert len(report.redeemed) == 1 and fake_ledger.balances["shop:1"] == 8


def test_ledger_refusing_an_offline_acceptance_is_shown(
    terminal: Terminal, fake_ledger: FakeLedger
):
    code = fake_ledger.issue(18)
    fake_ledger.stop()
    assert terminal.scan(code).scan.state == "queued"
    fake_ledger.offline["floor_limit"] = 10  # the council lowered it meanwhile
    fake_ledger.start()
    report = terminal.sync()
    (refused,) = report.refused
    assert refused.reason == "offline_limit_exceeded" and refused.needs_attention
    assert terminal.outcome(refused).message.title == (
        "The council refused a voucher this till accepted offline."
    )


def test_a_terminal_that_never_reached_the_ledger_cannot_accept(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    code = fake_ledger.issue(5)
    fake_ledger.stop()
    fresh = make_terminal(refresh=False)
    out = fresh.scan(code)
    assert out.scan.state == "declined" and out.scan.reason == "no_trust_list"
    assert out.message.title == "Can't check vouchers yet." and out.exit_code == 4


def test_turned_away_but_actually_redeemed_is_flagged(terminal: Terminal, fake_ledger: FakeLedger):
    """The ledger commits a 30-credit redemption but the answer is lost and the ledger then
    goes down: over the floor limit, the screen says "can't accept now". The sync finds that
    it did go through and flags it for the shopkeeper."""
    code = fake_ledger.issue(30)
    fake_ledger.drop_after_commit = 1
    real = terminal.client.redeem
    calls = []

    def redeem_then_down(body: str):
        calls.append(body)
        if len(calls) == 2:
            fake_ledger.stop()
        return real(body)

    terminal.client.redeem = redeem_then_down  # type: ignore[method-assign]
    out = terminal.scan(code)
    assert out.scan.state == "declined" and out.scan.reason == "offline_floor_limit"
    terminal.client.redeem = real  # type: ignore[method-assign]
    fake_ledger.start()
    report = terminal.sync()
    assert report.resolved == 1
    scan = terminal.store.scan(out.scan.id)
    assert scan is not None and scan.state == "redeemed" and scan.needs_attention
    assert len(fake_ledger.redemptions) == 1 and fake_ledger.balances["shop:1"] == 30
    msg = terminal.outcome(scan).message
    assert msg.title == "This voucher went through after all."
    assert any("your shop is paid 30 credits" in line for line in msg.lines)
    terminal.store.acknowledge(scan.id)
    assert not terminal.store.attention()


def test_while_offline_scans_do_not_wait_for_the_network(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    terminal = make_terminal(offline_recheck_s=60)
    codes = [fake_ledger.issue(5) for _ in range(3)]
    fake_ledger.stop()
    terminal.scan(codes[0])  # finds out the ledger is down
    fake_ledger.start()
    started = time.monotonic()
    out = terminal.scan(codes[1])
    assert time.monotonic() - started < 0.5
    assert out.scan.state == "queued" and fake_ledger.count(*REDEEM) == 0
    # The sync (the background one in `serve`) always tries, and brings it back online.
    assert terminal.sync().reachable and terminal.online()
    assert terminal.scan(codes[2]).scan.state == "redeemed"


def test_a_ledger_answering_503_is_offline_at_once_and_syncs_later(
    terminal: Terminal, fake_ledger: FakeLedger
):
    """503 ``unavailable`` (the ledger's database is down, ``outcome: not_done``): the
    terminal does not keep the customer waiting by resending for seconds; it decides offline
    at once within its limits and sync sends the queued one. The voucher it turned away is
    not redeemed behind the customer's back: the ledger said it did nothing with it."""
    small, big = fake_ledger.issue(15, member="ann"), fake_ledger.issue(30, member="bob")
    fake_ledger.unavailable = True

    a = terminal.scan(small)
    assert a.scan.state == "queued" and a.message.title == "Accepted offline."
    assert fake_ledger.count(*REDEEM, status=503) == 1  # asked once, not for seconds
    b = terminal.scan(big)  # above the floor limit of 20
    assert b.scan.state == "declined" and b.scan.reason == "offline_floor_limit"
    assert not terminal.online()

    fake_ledger.unavailable = False
    report = terminal.sync()
    assert report.reachable and report.still_queued == 0
    assert len(fake_ledger.redemptions) == 1
    assert fake_ledger.balances["shop:1"] == 15
    scan = terminal.store.scan(a.scan.id)
    assert scan is not None and scan.state == "redeemed"
    assert fake_ledger.vouchers[b.scan.voucher_id].state == "open"  # the customer kept it
