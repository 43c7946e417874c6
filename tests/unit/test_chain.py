"""The canonical text and hash chain are stable and sensitive to every field."""

from datetime import UTC, datetime, timedelta

from credits.ledger import chain

T = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
BASE = dict(
    kind="earn",
    occurred_at=T,
    recorded_at=T,
    reverses_entry_id=None,
    memo="Snow",
    actor="person:1",
    idempotency_key="k",
    postings=[(2, 5), (1, -5)],
)


def test_canonical_text_is_the_documented_format():
    text = chain.canonical_text(**BASE)
    parts = text.split("|")
    assert parts[0] == "cc-ledger/1"
    assert parts[1] == "earn"
    assert parts[2] == str(chain.epoch_us(T)) == "1795608000123456"
    assert parts[4] == "-"
    assert parts[-1] == "1:-5,2:5"  # sorted by account
    assert text.isascii()


def test_every_field_changes_the_hash():
    h = chain.content_hash(chain.canonical_text(**BASE))
    variants = [
        {"kind": "redeem"},
        {"occurred_at": T + timedelta(microseconds=1)},
        {"recorded_at": T + timedelta(microseconds=1)},
        {"reverses_entry_id": 3},
        {"memo": "Snow!"},
        {"actor": "person:2"},
        {"idempotency_key": "k2"},
        {"postings": [(1, -6), (2, 6)]},
        {"postings": [(1, -5), (3, 5)]},
    ]
    for change in variants:
        assert chain.content_hash(chain.canonical_text(**{**BASE, **change})) != h, change


def test_link_hash_depends_on_both_sides():
    a = chain.link_hash(chain.GENESIS_HASH, "11" * 32)
    assert a != chain.link_hash(chain.GENESIS_HASH, "12" * 32)
    assert a != chain.link_hash("01" * 32, "11" * 32)
    assert len(a) == 64


def test_epoch_us_is_exact_far_from_the_epoch():
    far = datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert chain.epoch_us(far) == 32503679999999999
