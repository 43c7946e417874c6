"""The shop terminal against the real ledger: a real server process (gunicorn, `credits
serve`), the real `shop_terminal` (its store, HTTP client, offline queue, counter screen).

Issue 5's end-to-end scenarios: issue a voucher as a member, decode its QR PNG with
zxing-cpp, redeem it at the terminal, check balances and `credits verify`; 32 concurrent
redemptions across two terminals; the ledger stopped → offline acceptance within limits →
restarted → sync, and the same voucher accepted offline at two shops; a lost answer after
the ledger committed; the counter screen in Chromium.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from credits import audit, ledger, shops
from credits.accounts import Role
from shop_terminal.config import Config
from shop_terminal.terminal import Terminal
from tests.conftest import ROOT, axe_violations, free_port, start_server


def add_terminal(db, shop_name, till, *, floor_limit=20, max_count=5, max_total=100):
    def make(s):
        by = audit.Actor.system("test")
        existing = [x for x in shops.list_shops(s) if x.name == shop_name]
        shop = existing[0] if existing else shops.create_shop(s, by, name=shop_name)
        _, token = shops.add_terminal(
            s, by, shop.id, name=till, limits=shops.OfflineLimits(floor_limit, max_count, max_total)
        )
        return shop.id, shop.ledger_account_id, token

    return db.run(make)


def make_terminal(tmp_path: Path, url: str, token: str, name: str) -> Terminal:
    config = Config(
        data_dir=tmp_path / name,
        ledger_url=url,
        terminal_token=token,
        connect_timeout_s=1.0,
        read_timeout_s=3.0,
        offline_recheck_s=0.0,
    )
    terminal = Terminal(config)
    assert terminal.refresh(), "the terminal reaches the ledger"
    return terminal


def issue(url: str, member, amount: int, key: str) -> dict[str, Any]:
    resp = httpx.post(
        f"{url}/api/v1/vouchers",
        json={"amount": amount, "idempotency_key": key},
        headers=member.auth,
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def balance(db, account_id: int) -> int:
    with db.read() as s:
        return ledger.balance(s, account_id)


def verify(cli_env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credits.cli", "verify"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_member_voucher_qr_png_to_redemption_at_the_terminal(
    live_server, db, make_person, tmp_path, cli_env
):
    import zxingcpp
    from PIL import Image

    ann = make_person(Role.MEMBER, credits=50, name="Ann")
    _, shop_account, token = add_terminal(db, "Brixton Bakery", "Till 1")
    voucher = issue(live_server.url, ann, 30, "e2e-1")
    png = httpx.get(
        f"{live_server.url}/api/v1/vouchers/{voucher['id']}/qr.png", headers=ann.auth, timeout=10
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [d.text for d in decoded] == [voucher["code"]]

    till = make_terminal(tmp_path, live_server.url, token, "till-1")
    out = till.scan(decoded[0].text, amount=18)
    assert out.scan.state == "redeemed" and out.exit_code == 0
    assert out.scan.redeemed_amount == 18 and out.scan.change == 12
    assert (balance(db, shop_account), balance(db, ann.account_id)) == (18, 32)
    # Scanned again here, the terminal's own journal knows; at another shop, the ledger says
    # where it went.
    again = till.scan(voucher["code"])
    assert again.scan.state == "refused" and "already used here" in again.message.title
    _, _, other_token = add_terminal(db, "Acre Lane Hardware", "Counter")
    elsewhere = make_terminal(tmp_path, live_server.url, other_token, "counter")
    refused = elsewhere.scan(voucher["code"])
    assert refused.scan.state == "refused" and "Brixton Bakery" in refused.message.title
    elsewhere.close()
    # The journal reaches the ledger, and every check (including the terminal's) passes.
    assert till.sync().journal_uploaded >= 2
    result = verify(cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    till.close()


def test_32_concurrent_redemptions_across_two_terminals(live_server, db, make_person, tmp_path):
    ann = make_person(Role.MEMBER, credits=50)
    _, shop_a, token_a = add_terminal(db, "Brixton Bakery", "Till 1")
    _, shop_b, token_b = add_terminal(db, "Acre Lane Hardware", "Counter")
    voucher = issue(live_server.url, ann, 25, "race")
    tills = [
        make_terminal(tmp_path, live_server.url, t, f"till-{i}")
        for i, t in enumerate([token_a, token_b])
    ]
    barrier = threading.Barrier(32)
    states: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        scan = tills[i % 2].scan(voucher["code"]).scan
        states.append(f"{scan.state}:{scan.reason}")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    outcomes = Counter(states)
    # Exactly one scan took it. Every other one was refused by the ledger (already used), or
    # declined by its own till because the same voucher was still awaiting the ledger's answer
    # there — never taken offline, never an exception.
    assert outcomes["redeemed:None"] == 1, outcomes
    assert set(outcomes) <= {
        "redeemed:None",
        "refused:already_redeemed",
        "declined:awaiting_answer",
    }, outcomes
    assert balance(db, shop_a) + balance(db, shop_b) == 25
    for t in tills:
        t.close()


def test_offline_then_sync_and_the_same_voucher_at_two_shops(
    live_server, db, make_person, tmp_path, cli_env
):
    ann = make_person(Role.MEMBER, credits=100, name="Ann")
    _, shop_a, token_a = add_terminal(db, "Brixton Bakery", "Till 1")
    _, shop_b, token_b = add_terminal(db, "Acre Lane Hardware", "Counter")
    small = issue(live_server.url, ann, 15, "small")
    spent_twice = issue(live_server.url, ann, 10, "twice")
    too_big = issue(live_server.url, ann, 40, "big")
    till_a = make_terminal(tmp_path, live_server.url, token_a, "till-a")
    till_b = make_terminal(tmp_path, live_server.url, token_b, "till-b")

    port = int(live_server.url.rsplit(":", 1)[1])
    live_server.stop()  # the internet at the counter drops
    assert till_a.scan(small["code"]).scan.state == "queued"
    assert till_a.scan(spent_twice["code"]).scan.state == "queued"
    assert till_b.scan(spent_twice["code"]).scan.state == "queued"  # the same voucher, elsewhere
    declined = till_a.scan(too_big["code"])  # above the floor limit of 20
    assert declined.scan.state == "declined" and declined.exit_code == 4
    assert balance(db, shop_a) == 0  # nothing reached the ledger yet

    restarted = start_server(cli_env, tmp_path / "server-2.log", port=port)
    try:
        report_a = till_a.sync()
        report_b = till_b.sync()
        assert len(report_a.redeemed) == 2 and not report_a.exceptions
        assert len(report_b.exceptions) == 1 and not report_b.redeemed
        assert report_b.exceptions[0].state == "exception"
        # Both shops are owed what they accepted; the scheme paid the second from
        # adjustments; the member's voucher value left once.
        assert (balance(db, shop_a), balance(db, shop_b)) == (25, 10)
        with db.read() as s:
            adjustments = ledger.balance(s, ledger.scheme_account(s, ledger.ADJUSTMENTS).id)
        assert adjustments == -10
        assert balance(db, ann.account_id) == 100 - 15 - 10 - 40
        officer = make_person(Role.OFFICER)
        queue = httpx.get(
            f"{restarted.url}/api/v1/redemption-exceptions", headers=officer.auth, timeout=10
        ).json()
        assert [(e["person_id"], e["amount"], e["reason"]) for e in queue] == [
            (ann.id, 10, "already_redeemed")
        ]
        # Syncing again changes nothing.
        assert till_a.sync().sent == 0 and till_b.sync().sent == 0
        assert (balance(db, shop_a), balance(db, shop_b)) == (25, 10)
        assert verify(cli_env).returncode == 0
    finally:
        restarted.stop()
        till_a.close()
        till_b.close()


def test_the_spent_list_end_to_end(live_server, db, make_person, tmp_path, cli_env):
    """Till B keeps the ledger's spent list: a voucher spent at shop A is refused at B while
    B is offline; one spent after B's last fetch is accepted offline and paid as the one
    exception; B's second claim of it is refused; the ledger recorded B's fetches (F)."""
    from sqlalchemy import select

    from shop_terminal.terminal import SPENT_LIST_DETAIL

    ann = make_person(Role.MEMBER, credits=100, name="Ann")
    _, shop_a, token_a = add_terminal(db, "Brixton Bakery", "Till 1")
    _, shop_b, token_b = add_terminal(db, "Acre Lane Hardware", "Counter")
    early = issue(live_server.url, ann, 8, "early")
    late = issue(live_server.url, ann, 6, "late")
    till_a = make_terminal(tmp_path, live_server.url, token_a, "till-a")
    till_b = make_terminal(tmp_path, live_server.url, token_b, "till-b")
    try:
        assert till_a.scan(early["code"]).scan.state == "redeemed"
        report = till_b.sync()
        assert report.spent_list == "fetched"
        with db.read() as s:
            fetched = s.execute(select(shops.Terminal.spent_list_at)).scalars().all()
        assert sum(f is not None for f in fetched) == 2  # both tills' fetches recorded
        assert till_a.scan(late["code"]).scan.state == "redeemed"  # after B's last fetch

        port = int(live_server.url.rsplit(":", 1)[1])
        live_server.stop()
        refused = till_b.scan(early["code"])
        assert refused.scan.state == "refused" and refused.scan.detail == SPENT_LIST_DETAIL
        assert refused.message.title == "This voucher has already been used."
        assert till_b.scan(late["code"]).scan.state == "queued"  # B could not have known

        restarted = start_server(cli_env, tmp_path / "server-2.log", port=port)
        try:
            report = till_b.sync()
            assert len(report.exceptions) == 1 and report.spent_list == "fetched"
            assert (balance(db, shop_a), balance(db, shop_b)) == (14, 6)
            # The same voucher once more at B (a new scan, a new key): it is now on B's list.
            restarted_scan = till_b.scan(late["code"])
            assert restarted_scan.scan.state == "refused"  # in B's own journal
            assert verify(cli_env).returncode == 0
        finally:
            restarted.stop()
    finally:
        till_a.close()
        till_b.close()


class DropFirstAnswer:
    """A TCP proxy that forwards everything, but for the first redemption it lets the ledger
    answer and then cuts the connection before the answer reaches the terminal — a timeout
    after the ledger committed."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.dropped = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        try:
            request = self._read_message(client)
            if not request:
                return
            upstream.sendall(request)
            answer = self._read_all(upstream)
            with self.lock:
                drop = self.dropped == 0 and request.startswith(b"POST /api/v1/redemptions")
                if drop:
                    self.dropped += 1
            if not drop:
                client.sendall(answer)
        finally:
            upstream.close()
            client.close()

    @staticmethod
    def _read_message(sock: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            body += sock.recv(65536)
        return head + b"\r\n\r\n" + body

    @staticmethod
    def _read_all(sock: socket.socket) -> bytes:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


def test_an_answer_lost_after_the_ledger_committed_is_never_redeemed_twice(
    live_server, db, make_person, tmp_path
):
    ann = make_person(Role.MEMBER, credits=50)
    _, shop, token = add_terminal(db, "Brixton Bakery", "Till 1")
    voucher = issue(live_server.url, ann, 20, "lost")
    direct = make_terminal(tmp_path, live_server.url, token, "till")
    direct.close()
    proxy = DropFirstAnswer(int(live_server.url.rsplit(":", 1)[1]))
    till = Terminal(replace(direct.config, ledger_url=f"http://127.0.0.1:{proxy.port}"))
    try:
        out = till.scan(voucher["code"])
        if out.scan.state == "pending":  # the answer was lost: the terminal resolves it
            till.sync()
            out = till.outcome(till.store.scan(out.scan.id))
        assert proxy.dropped == 1
        assert out.scan.state == "redeemed", out.scan
        assert balance(db, shop) == 20
        with db.read() as s:
            from sqlalchemy import text

            assert s.execute(text("SELECT count(*) FROM redemption")).scalar_one() == 1
            assert (
                s.execute(
                    text("SELECT count(*) FROM journal_entry WHERE kind = 'redeem'")
                ).scalar_one()
                == 1
            )
    finally:
        till.close()
        proxy.close()


@pytest.mark.browser
def test_the_counter_screen_against_the_ledger(live_server, db, make_person, tmp_path, browser):
    from tests.terminal.conftest import CounterServer
    from tests.terminal.test_counter_screen import result, scan_like_a_scanner

    ann = make_person(Role.MEMBER, credits=50)
    _, shop, token = add_terminal(db, "Brixton Bakery", "Till 1")
    good = issue(live_server.url, ann, 12, "screen-1")
    tampered = issue(live_server.url, ann, 8, "screen-2")["code"]
    tampered = tampered[:100] + ("1" if tampered[100] != "1" else "2") + tampered[101:]
    till = make_terminal(tmp_path, live_server.url, token, "till")
    counter = CounterServer(till, free_port())
    context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(counter.url)
        scan_like_a_scanner(page, good["code"])
        tone, words = result(page)
        assert tone == "yes" and "12 credits" in words
        page.screenshot(path=str(tmp_path / "counter-yes.png"))
        scan_like_a_scanner(page, tampered)
        tone, words = result(page)
        assert tone == "no" and "not a valid voucher" in words.lower()
        page.screenshot(path=str(tmp_path / "counter-no.png"))
        assert axe_violations(page) == []
        assert balance(db, shop) == 12
    finally:
        context.close()
        counter.stop()
        till.close()
