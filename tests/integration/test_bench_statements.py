"""`python -m credits.bench statements` at a tiny size: what it generates, `credits verify`
passes (the real command), and `--reuse` recognises it. Figures are not asserted here."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from credits.bench import statements
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres


@pytest.fixture
def bench_url():
    # A scratch database of its own beside the test database (the generator recreates it).
    assert PG_URL is not None
    url = make_url(PG_URL)
    scratch = url.set(database=f"credits_bench_smoke_{url.database}")
    yield scratch.render_as_string(hide_password=False)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)'))
    admin.dispose()


def test_a_tiny_history_is_realistic_and_passes_verify(bench_url):
    params = statements.Params(
        members=300, shops=5, months=4, postings_per_month=4_000, last_month="2026-09"
    )
    counts = statements.generate(bench_url, params, progress=lambda _: None)
    size = statements._size(bench_url)
    assert size["postings"] == counts.postings >= 12_000
    assert size["entries"] == counts.entries and size["members"] == 300
    # Every kind of entry the use cases write is there.
    assert {"earn", "voucher_issue", "redeem", "cancel", "expire"} <= set(counts.by_kind)
    engine = create_engine(bench_url)
    with engine.connect() as conn:
        first, last = conn.execute(
            text("SELECT min(occurred_at), max(recorded_at) FROM journal_entry")
        ).one()
        with_change = conn.execute(text("SELECT count(*) FROM redemption WHERE change > 0"))
        states = dict(
            conn.execute(text("SELECT state, count(*) FROM voucher GROUP BY state")).all()
        )
        assert with_change.scalar_one() > 0
    engine.dispose()
    assert set(states) == {"open", "redeemed", "cancelled", "expired"}
    assert first >= statements.Month.parse("2026-06").starts_at
    assert last < statements.Month.parse("2026-09").ends_at

    report = statements.run_verify(bench_url)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    assert {c["name"] for c in report["checks"]} >= {"hash_chain", "voucher_entries"}
    # Each check was timed (the default is 0.0), within the run's wall time.
    assert all(0 <= c["elapsed_s"] <= report["wall_s"] for c in report["checks"])
    assert sum(c["elapsed_s"] for c in report["checks"]) > 0
    assert statements.stored_params(bench_url) == params.key()
    timed = statements.time_statements(bench_url, "2026-09", runs=1)
    assert timed and all(seconds > 0 for _, seconds, _ in timed)
