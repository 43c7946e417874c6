"""What post_entry refuses before touching the database."""

from datetime import datetime

import pytest

from credits.ledger import EntryKind, EntryRequest, InvalidEntry, Leg, UnknownAccount
from credits.ledger.posting import request_fingerprint, validate_request


def req(*legs: tuple[object, object], **kw: object) -> EntryRequest:
    base: dict[str, object] = {
        "kind": EntryKind.EARN,
        "memo": "m",
        "actor": "test",
        "idempotency_key": "k",
    }
    base.update(kw)
    return EntryRequest(legs=tuple(Leg(a, b) for a, b in legs), **base)  # type: ignore[arg-type]


def test_a_balanced_entry_passes():
    validate_request(req((1, -5), (2, 5)))


@pytest.mark.parametrize(
    "legs, message",
    [
        (((1, -5.0), (2, 5.0)), "whole credits"),
        (((1, -5), (2, 5.0)), "whole credits"),
        (((1, True), (2, -1)), "whole credits"),
        (((1, 0), (2, 0)), "zero"),
        (((1, -5), (2, 4)), "does not balance"),
        (((1, -5),), "at least two"),
        ((), "at least two"),
        (((1, -5), (1, 5)), "twice"),
        (((1, -(10**12)), (2, 10**12)), "largest posting"),
        (((1, -5), (2, "5")), "whole credits"),
    ],
)
def test_malformed_postings_are_refused(legs, message):
    with pytest.raises(InvalidEntry, match=message):
        validate_request(req(*legs))


@pytest.mark.parametrize("account", [0, -1, "1", None, 1.0])
def test_non_ids_are_unknown_accounts(account):
    with pytest.raises(UnknownAccount):
        validate_request(req((account, -5), (2, 5)))


@pytest.mark.parametrize(
    "field, value",
    [
        ("memo", "x" * 501),
        ("memo", None),
        ("actor", ""),
        ("idempotency_key", ""),
        ("idempotency_key", "k" * 301),
        ("idempotency_key", "tab\there"),
        ("idempotency_key", "é"),
        ("occurred_at", datetime(2026, 1, 1)),
        ("reverses_entry_id", 7),  # only a reversal names what it reverses
    ],
)
def test_bad_metadata_is_refused(field, value):
    with pytest.raises(InvalidEntry):
        validate_request(req((1, -5), (2, 5), **{field: value}))


def test_a_reversal_must_name_its_target():
    with pytest.raises(InvalidEntry):
        validate_request(req((1, -5), (2, 5), kind=EntryKind.REVERSAL))


def test_limit_on_postings_per_entry():
    legs = [(i, 1) for i in range(1, 1002)] + [(5000, -1001)]
    with pytest.raises(InvalidEntry, match="at most"):
        validate_request(req(*legs))


def test_fingerprint_ignores_posting_order_and_actor_but_not_amounts():
    a = req((1, -5), (2, 5))
    assert request_fingerprint(a) == request_fingerprint(req((2, 5), (1, -5), actor="someone else"))
    assert request_fingerprint(a) != request_fingerprint(req((1, -6), (2, 6)))
    assert request_fingerprint(a) != request_fingerprint(req((1, -5), (2, 5), memo="other"))
