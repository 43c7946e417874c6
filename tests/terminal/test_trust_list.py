"""The trust list is cached with its ETag, revalidated with If-None-Match, kept while the
ledger is unreachable, and refreshed when a code names a key the terminal has not seen."""

from __future__ import annotations

from shop_terminal.terminal import Terminal
from tests.terminal.fake_ledger import FakeLedger
from tests.terminal.voucher_signer import SigningKey

TRUST = ("GET", "/api/v1/trust-list")


def test_etag_revalidation(terminal: Terminal, fake_ledger: FakeLedger):
    assert fake_ledger.count(*TRUST, 200) == 1  # the first refresh (fixture)
    etag = terminal.store.get_meta("trust_list_etag")
    assert etag and etag.startswith('"')
    assert terminal.refresh_trust_list()
    assert fake_ledger.count(*TRUST, 304) == 1 and fake_ledger.count(*TRUST, 200) == 1
    # The ledger publishes a new key: a new ETag, the new list cached.
    fake_ledger.keys.append(SigningKey.generate())
    assert terminal.refresh_trust_list()
    assert fake_ledger.count(*TRUST, 200) == 2
    assert terminal.store.get_meta("trust_list_etag") != etag
    assert len(terminal.trust_list().keys) == 2  # type: ignore[union-attr]


def test_cached_list_is_used_while_the_ledger_is_down(terminal: Terminal, fake_ledger: FakeLedger):
    code = fake_ledger.issue(5)
    fake_ledger.stop()
    assert not terminal.refresh_trust_list()
    assert terminal.trust_list() is not None
    assert terminal.scan(code).scan.state == "queued"


def test_a_new_key_is_fetched_when_a_code_needs_it(terminal: Terminal, fake_ledger: FakeLedger):
    new = SigningKey.generate()
    fake_ledger.keys.append(new)
    code = fake_ledger.issue(5, key=new)
    out = terminal.scan(code)
    assert out.scan.state == "redeemed"
    assert fake_ledger.count(*TRUST, 200) == 2


def test_a_revoked_key_stops_verifying_after_refresh(terminal: Terminal, fake_ledger: FakeLedger):
    code = fake_ledger.issue(5)
    fake_ledger.keys[0].status = "revoked"
    assert terminal.refresh_trust_list()
    out = terminal.scan(code)
    assert out.scan.reason == "unknown_key" and out.message.title == "This is not a valid voucher."
