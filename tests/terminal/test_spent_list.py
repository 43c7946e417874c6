"""The terminal's spent list and its consecutive-offline limits (docs/shop-terminal.md): a
voucher spent elsewhere is refused offline once the list has it; the list is fetched after
the queue went out, never while an acceptance waits; a stale or half-fetched list, or an
acceptance waiting more than a day, means "go online first"; held claims and claims the
council refused are shown in plain words.

The fake ledger (tests/terminal/fake_ledger.py) judges offline claims by the bounding rule:
its F for a terminal is when it last answered that terminal's spent-list fetch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from shop_terminal.ledger import LedgerNoAnswer
from shop_terminal.store import iso, utc_now
from shop_terminal.terminal import SPENT_LIST_DETAIL, Terminal
from tests.terminal.fake_ledger import FakeLedger

SPENT = ("GET", "/api/v1/terminal/spent-vouchers")
REDEEM = ("POST", "/api/v1/redemptions")


def listed(terminal: Terminal) -> dict[str, str]:
    with terminal.store._connect() as conn:
        return {r["voucher_id"]: r["state"] for r in conn.execute("SELECT * FROM spent_voucher")}


def test_a_voucher_spent_elsewhere_is_refused_offline_once_listed(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    here, there = make_terminal(1, "till-a"), make_terminal(2, "till-b")
    used, cancelled, fresh = fake_ledger.issue(8), fake_ledger.issue(6), fake_ledger.issue(5)
    assert there.scan(used).scan.state == "redeemed"
    fake_ledger.cancel(
        next(v for v in fake_ledger.vouchers.values() if v.face_value == 6).voucher_id
    )
    report = here.sync()
    assert report.spent_list == "fetched" and len(listed(here)) == 2
    fake_ledger.stop()

    out = here.scan(used)
    assert out.scan.state == "refused" and out.scan.reason == "already_redeemed"
    assert out.scan.detail == SPENT_LIST_DETAIL and out.exit_code == 1
    assert out.message.title == "This voucher has already been used."
    assert "list of used vouchers" in " ".join(out.message.lines)
    out = here.scan(cancelled)
    assert out.scan.reason == "voucher_cancelled"
    assert out.message.title == "This voucher was cancelled by its owner."
    assert here.scan(fresh).scan.state == "queued"  # not on the list: accepted offline
    assert here.store.queue_summary() == (1, 5)


def test_the_list_is_fetched_after_the_queue_went_out_and_never_while_it_waits(
    terminal: Terminal, fake_ledger: FakeLedger
):
    code = fake_ledger.issue(15)
    fake_ledger.delay_after_commit_s = 2.0  # the online answer is lost: queued offline
    assert terminal.scan(code).scan.state == "queued"
    fake_ledger.delay_after_commit_s = 0
    fake_ledger.hang_up = True  # the online request's fate stays unknown
    fetched = fake_ledger.count(*SPENT)
    report = terminal.sync()
    assert report.still_queued == 1 and report.spent_list == "waiting"
    assert fake_ledger.count(*SPENT) == fetched  # no fetch while an acceptance waits
    fake_ledger.hang_up = False
    report = terminal.sync()
    assert report.still_queued == 0 and report.spent_list == "fetched"
    # The fetch came after the last redemption request of that sync.
    last = [i for i, r in enumerate(fake_ledger.requests) if r[:2] == REDEEM][-1]
    first_fetch_after = [i for i, r in enumerate(fake_ledger.requests) if r[:2] == SPENT][-1]
    assert first_fetch_after > last


def test_incremental_and_304_and_expired_entries_drop_out(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    here, there = make_terminal(1, "till-a"), make_terminal(2, "till-b")
    assert here.sync().spent_list in ("fetched", "not modified")
    assert here.sync().spent_list == "not modified"  # nothing closed: 304
    assert fake_ledger.count(*SPENT, status=304) >= 1
    code = fake_ledger.issue(4)
    there.scan(code)
    assert here.sync().spent_list == "fetched" and len(listed(here)) == 1
    # An entry past its expiry is dropped at the next fetch.
    with here.store.transaction() as conn:
        conn.execute("UPDATE spent_voucher SET expires_at = 1")
    here.sync()
    assert listed(here) == {}


def test_the_full_list_comes_in_pages(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    fake_ledger.spent_page = 2
    there = make_terminal(2, "till-b")
    for _ in range(5):
        there.scan(fake_ledger.issue(3))
    here = make_terminal(1, "till-a")  # its first fetch: the full list, three pages
    assert len(listed(here)) == 5


def test_offline_is_declined_while_the_list_is_stale_missing_or_half_fetched(
    terminal: Terminal, fake_ledger: FakeLedger
):
    codes = [fake_ledger.issue(5) for _ in range(4)]
    stale = iso(utc_now() - timedelta(hours=23, minutes=1))
    terminal.store.set_meta(spent_list_fetched_at=stale)
    fake_ledger.stop()
    out = terminal.scan(codes[0])
    assert out.scan.state == "declined" and out.scan.reason == "offline_list_stale"
    assert out.message.title == "Can't accept vouchers offline until this till connects."
    assert "more than a day old" in " ".join(out.message.lines)
    fake_ledger.start()

    # A fetch cut short after the ledger may have answered: nothing offline until one
    # completes (the ledger's record of the fetch may be ahead of this till's list).
    fake_ledger.spent_page = 1
    for code in codes[:2]:
        terminal.scan(code)  # two vouchers spent: a two-page list
    real = terminal.client.spent_vouchers
    calls = []

    def second_page_lost(since, etag):
        calls.append(since)
        if len(calls) == 2:
            raise LedgerNoAnswer("the connection dropped")
        return real(since, etag)

    terminal.client.spent_vouchers = second_page_lost  # type: ignore[method-assign]
    assert terminal.sync().spent_list == "failed"
    terminal.client.spent_vouchers = real  # type: ignore[method-assign]
    fake_ledger.stop()
    assert terminal.scan(codes[2]).scan.reason == "offline_list_stale"
    fake_ledger.start()
    assert terminal.sync().spent_list == "fetched"
    fake_ledger.stop()
    assert terminal.scan(codes[2]).scan.state == "queued"

    # No list at all (a till upgraded from the release before the list): go online first.
    terminal.store.set_meta(spent_list_fetched_at=None)
    assert terminal.scan(codes[3]).scan.reason == "offline_list_stale"


def test_an_acceptance_waiting_more_than_a_day_stops_offline_acceptances(
    terminal: Terminal, fake_ledger: FakeLedger
):
    first, second = fake_ledger.issue(5), fake_ledger.issue(5)
    fake_ledger.stop()
    queued = terminal.scan(first).scan
    assert queued.state == "queued"
    with terminal.store.transaction() as conn:
        conn.execute(
            "UPDATE scan SET offline_accepted_at = ? WHERE id = ?",
            (iso(utc_now() - timedelta(hours=24, minutes=1)), queued.id),
        )
    out = terminal.scan(second)
    assert out.scan.state == "declined" and out.scan.reason == "offline_queue_too_old"
    assert "more than a day" in " ".join(out.message.lines)


def test_a_held_claim_is_shown_and_not_counted_as_paid(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    here, there = make_terminal(1, "till-a"), make_terminal(2, "till-b")
    code = fake_ledger.issue(12, member="mo")
    fake_ledger.stop()
    assert here.scan(code).scan.state == "queued"
    assert there.scan(code).scan.state == "queued"
    fake_ledger.start()
    fake_ledger.hold_exceptions = True
    assert here.sync().redeemed
    report = there.sync()
    (held,) = report.held
    assert held.state == "held" and held.needs_attention and held.exception_id
    msg = there.outcome(held).message
    assert msg.title == "Accepted offline — used elsewhere; the council will decide."
    assert any("council officer will decide" in line for line in msg.lines)
    assert fake_ledger.balances["shop:2"] == 0  # nothing paid yet
    assert there.today()[0].credits == 0  # not counted as taken
    assert fake_ledger.journal[held.id]["outcome"] == "exception"
    assert there.sync().sent == 0  # sent once
    # Scanned again at that till, it is in its journal.
    fake_ledger.stop()
    assert there.scan(code).scan.reason == "already_redeemed"


def test_a_claim_the_council_refused_is_explained(
    make_terminal: Callable[..., Terminal], fake_ledger: FakeLedger
):
    """Two tills of one shop both took the voucher offline: the council never pays an
    exception to the shop that redeemed it."""
    front, back = make_terminal(1, "front"), make_terminal(1, "back")
    code = fake_ledger.issue(7)
    fake_ledger.stop()
    assert front.scan(code).scan.state == "queued"
    assert back.scan(code).scan.state == "queued"
    fake_ledger.start()
    front.sync()
    (refused,) = back.sync().refused
    assert refused.state == "refused" and refused.reason == "already_redeemed"
    assert refused.needs_attention
    msg = back.outcome(refused).message
    assert msg.title == "The council refused a voucher this till accepted offline."
    assert msg.lines[0].startswith("It had already been used here")
    assert any("could not have known" in line for line in msg.lines)
    assert fake_ledger.balances["shop:1"] == 7 and not fake_ledger.exceptions
