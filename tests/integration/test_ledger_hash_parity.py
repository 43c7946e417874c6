"""PostgreSQL's ledger_canonical_hash must equal Python's chain.canonical_text hash exactly:
`credits verify` recomputes in Python what the database computed when posting."""

from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import text

from credits.ledger import chain

pytestmark = pytest.mark.postgres

# PostgreSQL text cannot hold NUL; everything else, including surrogate-free unicode, goes.
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60
)
moments = st.datetimes(
    min_value=datetime(1960, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
)
postings = st.lists(
    st.tuples(st.integers(1, 2**62), st.integers(-(10**9), 10**9).filter(bool)),
    min_size=1,
    max_size=6,
    unique_by=lambda p: p[0],
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["earn", "redeem", "reversal"]),
    occurred=moments,
    recorded=moments,
    reverses=st.none() | st.integers(1, 2**62),
    memo=texts,
    actor=texts,
    key=texts,
    lines=postings,
)
def test_sql_and_python_canonical_hashes_agree(
    db, kind, occurred, recorded, reverses, memo, actor, key, lines
):
    python = chain.content_hash(
        chain.canonical_text(
            kind=kind,
            occurred_at=occurred,
            recorded_at=recorded,
            reverses_entry_id=reverses,
            memo=memo,
            actor=actor,
            idempotency_key=key,
            postings=lines,
        )
    )
    with db.engine.connect() as conn:
        sql = conn.execute(
            text(
                "SELECT ledger_canonical_hash(:k, :o, :r, CAST(:rev AS bigint), :m, :a, :key, "
                "CAST(:acc AS bigint[]), CAST(:amt AS bigint[]))"
            ),
            {
                "k": kind,
                "o": occurred,
                "r": recorded,
                "rev": reverses,
                "m": memo,
                "a": actor,
                "key": key,
                "acc": [a for a, _ in lines],
                "amt": [m for _, m in lines],
            },
        ).scalar_one()
    assert sql == python


def test_microseconds_either_side_of_the_epoch(db):
    for moment in [
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=d) for d in (-1, 0, 1)
    ]:
        test_sql_and_python_canonical_hashes_agree.hypothesis.inner_test(
            db, "earn", moment, moment, None, "", "", "k", [(1, 5), (2, -5)]
        )
