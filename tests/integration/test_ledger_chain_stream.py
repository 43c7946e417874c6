"""The streamed hash-chain check (PostgreSQL's default) against the reference walk.

On PostgreSQL `credits verify` reads the entries with COPY in id order and walks each lane
in sequence order as they arrive; the reference walk (``--thorough``, and SQLite) reads them
in lane order through SQLAlchemy. Whatever is stored, both must say the same things in the
same order — including text that COPY has to escape, and entries whose ids are not in their
lane's order (the one-statement redemption takes its entry id before its place on the lane).
"""

import hashlib

import pytest
from sqlalchemy import text

from credits import ledger
from credits.ledger import EntryKind as K

from .ledger_helpers import all_ok, open_member, post, scheme
from .test_ledger_tamper import raw

pytestmark = pytest.mark.postgres

AWKWARD = ["tab\there", "new\nline", "back\\slash \\N", "cr\rlf\n", "£ café — ✓", "\\t literal"]


def both(db):
    with db.read() as s:
        streamed = ledger.verify.check_hash_chain(s)
        reference = ledger.verify.check_hash_chain_in_python(s)
    return streamed, reference


@pytest.fixture
def ledger_with_awkward_text(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    entries = [
        post(db, K.EARN, {issuance: -3, ann: 3}, f"key\\{n}", memo=memo, actor=f"by {memo}")
        for n, memo in enumerate(AWKWARD)
    ]
    return entries, issuance, ann


def test_text_that_copy_escapes_hashes_as_stored(db, ledger_with_awkward_text):
    streamed, reference = both(db)
    assert streamed.problems == reference.problems == []
    assert streamed.checked == reference.checked == len(AWKWARD)
    assert all_ok(db) == []


def test_an_edit_to_escaped_text_is_found_by_both_walks(db, ledger_with_awkward_text):
    entries, _, _ = ledger_with_awkward_text
    raw(db, "UPDATE journal_entry SET memo = 'tab\there' WHERE id = :e", e=entries[3].id)
    raw(db, "UPDATE journal_entry SET actor = 'new\nactor' WHERE id = :e", e=entries[5].id)
    streamed, reference = both(db)
    assert streamed.problems == reference.problems
    assert streamed.problems == [
        f"entry {e.id}: content does not match its hash (edited entry or posting)"
        for e in sorted(
            (entries[3], entries[5]),
            key=lambda e: reference.problems.index(
                f"entry {e.id}: content does not match its hash (edited entry or posting)"
            ),
        )
    ]


def _post_with_id(db, lane, entry_id, key, legs):
    """Post through ledger_post with an entry id taken earlier, as redeem_voucher does."""
    accounts, amounts = zip(*sorted(legs.items()), strict=True)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "SELECT * FROM ledger_post('earn', 'early id', 'test', now(), now(), :k, "
                "repeat('0', 64), NULL, CAST(:a AS bigint[]), CAST(:m AS bigint[]), :lane, :id)"
            ),
            {"k": key, "a": list(accounts), "m": list(amounts), "lane": lane, "id": entry_id},
        )


def test_entries_whose_ids_run_ahead_of_their_lane_still_chain(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    with db.engine.begin() as conn:
        early = [conn.execute(text("SELECT nextval('journal_entry_id_seq')")).scalar_one()]
        early.append(conn.execute(text("SELECT nextval('journal_entry_id_seq')")).scalar_one())
    # Later ids first on lane 3, then the two early ids after them: ids out of lane order.
    for n in range(3):
        _post_with_id(db, 3, None, f"late-{n}", {issuance: -1, ann: 1})
    for n, entry_id in enumerate(reversed(early)):
        _post_with_id(db, 3, entry_id, f"early-{n}", {issuance: -2, ann: 2})
    with db.read() as s:
        by_seq = list(
            s.execute(
                text("SELECT id FROM journal_entry WHERE lane = 3 ORDER BY lane_seq")
            ).scalars()
        )
    assert by_seq[3:] == list(reversed(early)) and by_seq != sorted(by_seq)
    streamed, reference = both(db)
    assert streamed.problems == reference.problems == []
    assert streamed.checked == reference.checked == 5
    # Take out the entry at #4 (its id came after #5's): both walks see #5 follow #3.
    raw(db, "DELETE FROM posting WHERE entry_id = :e", e=early[1])
    raw(db, "DELETE FROM journal_entry WHERE id = :e", e=early[1])
    streamed, reference = both(db)
    assert streamed.problems == reference.problems
    assert streamed.problems == [
        f"entry {early[0]}: lane 3 jumps from #3 to #5",
        f"entry {early[0]}: prev_hash does not match the entry before it on lane 3",
    ]


def test_tampered_hashes_and_a_headless_lane_are_reported_in_the_reference_order(
    db, ledger_with_awkward_text
):
    entries, _, _ = ledger_with_awkward_text
    raw(db, "UPDATE journal_entry SET prev_hash = 'not\thex' WHERE id = :e", e=entries[1].id)
    raw(db, "UPDATE journal_entry SET hash = upper(hash) WHERE id = :e", e=entries[2].id)
    raw(db, "UPDATE journal_entry SET lane = 11 WHERE id = :e", e=entries[4].id)
    streamed, reference = both(db)
    assert streamed.problems == reference.problems
    assert streamed.problem_count == reference.problem_count >= 4
    assert streamed.problems[-1] == "lane 11: entries on a lane that has no head"


def test_entries_balanced_from_the_chain_pass_says_what_the_sql_check_says(db):
    """`credits verify` takes entries_balanced from the hash chain's COPY on PostgreSQL."""
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    bob = open_member(db, "bob")
    entries = [post(db, K.EARN, {issuance: -5, ann: 3, bob: 2}, f"k{n}") for n in range(4)]
    raw(db, "UPDATE posting SET amount = 4 WHERE entry_id = :e AND account_id = :a",
        e=entries[0].id, a=ann)  # fmt: skip
    raw(db, "DELETE FROM posting WHERE entry_id = :e AND account_id <> :a",
        e=entries[2].id, a=ann)  # fmt: skip
    raw(db, "DELETE FROM posting WHERE entry_id = :e", e=entries[3].id)
    with db.read() as s:
        balanced, chained = ledger.verify.check_entries_and_chain(s)
        in_sql = ledger.verify.check_entries_balanced(s)
        reference = ledger.verify.check_hash_chain_in_python(s)
    assert (
        balanced.problems
        == in_sql.problems
        == [
            f"entry {entries[0].id}: 3 postings summing to 1",
            f"entry {entries[2].id}: 1 postings summing to 3",
            f"entry {entries[3].id}: 0 postings summing to 0",
        ]
    )
    assert balanced.checked == in_sql.checked == chained.checked == 4
    assert chained.problems == reference.problems and chained.problem_count == 3


def test_postings_out_of_canonical_order_still_hash_as_stored():
    """The COPY aggregates postings in the order the plan reads them (the index's, which is
    canonical); if a plan ever read them otherwise, the entry is hashed again sorted."""
    from credits.ledger import chain
    from credits.ledger.verify import _matches_sorted, _sorted_postings

    assert _sorted_postings(b"10:-5,2:7,9:-2") == b"2:7,9:-2,10:-5"  # by number, not text
    assert _sorted_postings(b"") == b""
    head = b"|".join((chain.CANONICAL_VERSION.encode(), b"earn", b"1", b"2", b"-"))
    stored = hashlib.sha256(head + b"|2:7,9:-2,10:-5").hexdigest().encode()
    assert _matches_sorted(head + b"|10:-5,2:7,9:-2", b"10:-5,2:7,9:-2", stored)
    assert not _matches_sorted(head + b"|10:-5,2:7,9:-1", b"10:-5,2:7,9:-1", stored)
    assert not _matches_sorted(head + b"|2:7,9:-2,10:-5", b"2:7,9:-2,10:-5", b"0" * 64)
