"""Month-close snapshots: months close in order; a statement opened from the previous
month's snapshot is byte for byte the one computed from the stored balances; the dashboard
reads closed months' stored figures and shows the same numbers; `credits verify` catches an
edited snapshot; on PostgreSQL snapshots are append-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits.cli import main as cli
from credits.dashboard.queries import monthly_figures
from credits.ledger import Month
from credits.statements import build_statement, render, snapshots

from ..test_ledger_tamper import raw
from ..web_helpers import post_form, sign_in
from .worked_month import EXPECTED, OCTOBER, build_worked_month, close_months, london

SEPTEMBER, NOVEMBER = Month(2026, 9), Month(2026, 11)
DASHBOARD_NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def month(db, client, make_person):
    worked = build_worked_month(db, client, make_person)
    sch = worked.scheme
    # November holds an entry too, so its statement has a movement to add to the snapshot.
    with freeze_time(london(2026, 11, 3, 10)):
        sch.record(
            member_email=sch.ann.email,
            activity="snow-clearing",
            quantity="1",
            occurred_on="2026-11-02",
        )
    return worked


def run(runner, *args):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def statements(db, month) -> dict[str, bytes]:
    """Every statement the tests compare: the scheme's and each shop's, September (the first
    month closed: from its own snapshot), October and November."""
    out = {}
    with db.read() as s:
        for m in (SEPTEMBER, OCTOBER, NOVEMBER):
            out[f"{m}"] = render.json_bytes(build_statement(s, m))
            for shop in (month.shop_a, month.shop_b):
                st = build_statement(s, m, shop_id=shop["shop_id"])
                out[f"{m}/shop/{shop['shop_id']}"] = render.json_bytes(st)
    return out


def counts(db) -> tuple[int, int, int]:
    with db.read() as s:
        return tuple(  # type: ignore[return-value]
            int(s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("closed_period", "month_close", "month_balance")
        )


def test_months_close_in_order(runner, db, month, app):
    result = run(runner, "close-month", "2026-10")
    assert result.exit_code == 2, result.output
    assert "earlier_month_open" in result.output and "close 2026-09 first" in result.output
    assert counts(db) == (0, 0, 0)
    # The close page shows the same refusal, with its status.
    web = app.test_client()
    with freeze_time(london(2026, 11, 25, 12)):
        sign_in(web, month.officer.email)
        page = web.get("/officer/statements/2026-10/close").get_data(as_text=True)
        assert 'id="close-first"' in page and "close 2026-09 first" in page
        assert "/officer/statements/2026-09/close" in page
        resp = post_form(
            web,
            "/officer/statements/2026-10/close",
            {},
            from_page="/officer/statements/2026-09/close",
        )
    assert resp.status_code == 409
    assert "close 2026-09 first" in resp.get_data(as_text=True)
    assert counts(db) == (0, 0, 0)
    # In order, both close; each leaves a snapshot.
    close_months(db, "2026-09", "2026-10")
    with db.read() as s:
        assert snapshots.has_snapshot(s, SEPTEMBER) and snapshots.has_snapshot(s, OCTOBER)


def test_a_statement_from_the_snapshot_is_byte_identical(db, month):
    before = statements(db, month)  # no snapshots: from the stored balances
    close_months(db, "2026-09", "2026-10")
    after = statements(db, month)  # October from September's snapshot, November from October's
    assert after == before
    with db.read() as s:
        october = build_statement(s, OCTOBER).scheme
        by_type = snapshots.balances_by_type(s, OCTOBER)
        stored = snapshots.stored_figures(s, [SEPTEMBER, OCTOBER])
    assert october is not None
    assert october.opening.total == EXPECTED["opening"]["total"]
    assert october.closing.total == EXPECTED["closing"]["total"]
    assert by_type.get("member", 0) == EXPECTED["closing"]["members"]
    assert sum(by_type.values()) == 0  # a snapshot balances like the ledger
    assert stored[OCTOBER] == snapshots.MonthSnapshot(
        OCTOBER, EXPECTED["issued"], EXPECTED["redeemed"], EXPECTED["closing"]["total"]
    )
    assert stored[SEPTEMBER].liability == EXPECTED["opening"]["total"]


def test_the_snapshot_path_reads_neither_stored_balances_nor_later_postings(db, month, monkeypatch):
    """Tamper with what only the fallback reads — a posting dated after October and the
    stored balance — and October's statement from September's snapshot does not move,
    while the fallback's does."""
    close_months(db, "2026-09", "2026-10")
    with db.read() as s:
        clean = render.json_bytes(build_statement(s, OCTOBER))
    ann = month.scheme.ann.account_id
    # A tamperer with the database's superuser (triggers off, as raw() does).
    raw(
        db,
        "UPDATE posting SET amount = amount + 3 WHERE account_id = :a AND entry_id = "
        "(SELECT max(p.entry_id) FROM posting p WHERE p.account_id = :a)",
        a=ann,
    )
    raw(db, "UPDATE account_balance SET balance = balance + 7 WHERE account_id = :a", a=ann)
    with db.read() as s:
        assert render.json_bytes(build_statement(s, OCTOBER)) == clean
        monkeypatch.setattr(snapshots, "has_snapshot", lambda session, m: False)
        assert render.json_bytes(build_statement(s, OCTOBER)) != clean


def test_the_dashboard_reads_closed_months_and_agrees(db, month):
    with db.read() as s:
        open_figures = monthly_figures(s, DASHBOARD_NOW)
    close_months(db, "2026-09", "2026-10")
    with db.read() as s:
        closed_figures = monthly_figures(s, DASHBOARD_NOW)
    assert closed_figures == open_figures
    october = {str(f.month): f for f in closed_figures}["2026-10"]
    assert (october.issued, october.redeemed, october.liability) == (
        EXPECTED["issued"],
        EXPECTED["redeemed"],
        EXPECTED["closing"]["total"],
    )


def test_verify_names_an_edited_snapshot(runner, db, month):
    close_months(db, "2026-09", "2026-10")
    assert run(runner, "verify").exit_code == 0
    ann = month.scheme.ann.account_id
    raw(
        db,
        "UPDATE month_balance SET balance = balance + 5 "
        "WHERE month = '2026-10' AND account_id = :a",
        a=ann,
    )
    result = run(runner, "verify")
    assert result.exit_code == 1
    assert "month_snapshots" in result.output
    assert f"snapshot 2026-10: account {ann} differs" in result.output
    assert "liability stored" in result.output


def test_verify_names_edited_stored_figures(runner, db, month):
    close_months(db, "2026-09", "2026-10")
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE month_close SET issued = issued + 1 WHERE month = '2026-09'"))
    result = run(runner, "verify")
    assert result.exit_code == 1
    assert "snapshot 2026-09: issued stored" in result.output


def test_verify_names_an_edit_of_the_first_snapshot_and_of_redeemed(runner, db, month):
    """The earliest snapshot is checked against every posting before its end; a later
    month's figures against its own postings (both in the one pass per month)."""
    close_months(db, "2026-09", "2026-10")
    ann = month.scheme.ann.account_id
    raw(
        db,
        "UPDATE month_balance SET balance = balance - 3 "
        "WHERE month = '2026-09' AND account_id = :a",
        a=ann,
    )
    raw(db, "UPDATE month_close SET redeemed = redeemed + 2 WHERE month = '2026-10'")
    result = run(runner, "verify")
    assert result.exit_code == 1
    assert f"snapshot 2026-09: account {ann} differs from the postings by -3" in result.output
    # 2026-10's own snapshot is untouched, so it differs from the edited 2026-09 one plus
    # 2026-10's postings by the edit, the other way round.
    assert (
        f"snapshot 2026-10: account {ann} differs from the 2026-09 snapshot plus 2026-10's "
        "postings by 3" in result.output
    )
    assert "snapshot 2026-10: redeemed stored" in result.output
    assert "snapshot 2026-10: issued stored" not in result.output


def test_snapshots_are_append_only_on_postgresql(db, owner_db, dialect, month):
    if dialect != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    close_months(db, "2026-09")
    for sql in (
        "UPDATE month_balance SET balance = balance + 1",
        "DELETE FROM month_balance",
        "TRUNCATE month_balance",
    ):
        # Even as the tables' owner (the app's role has no such privilege at all).
        with pytest.raises(Exception, match="append-only"), owner_db.engine.begin() as conn:
            conn.execute(text(sql))
    assert counts(db)[2] > 0


def test_closing_a_month_closes_the_empty_months_before_it(db, month):
    """An entry back-dated before the first month holding entries would falsify every
    snapshot: it is refused once a later month is closed."""
    from credits.errors import PeriodClosed

    close_months(db, "2026-09")
    sch = month.scheme
    with freeze_time(london(2026, 10, 1, 10)), pytest.raises(PeriodClosed):
        sch.record(
            member_email=sch.ann.email,
            activity="snow-clearing",
            quantity="1",
            occurred_on="2026-08-20",
        )


@pytest.mark.postgres
def test_postgres_refuses_a_raw_insert_dated_before_a_closed_month(db, month):
    """The database repeats the rule: an entry dated in an (empty) month before a closed one
    is refused by the closed-period trigger (migration 0016), whatever path wrote it."""
    from sqlalchemy.exc import DBAPIError

    close_months(db, "2026-09")
    insert = text(
        "INSERT INTO journal_entry (kind, memo, actor, occurred_at, recorded_at, "
        "idempotency_key, request_hash, lane, lane_seq, content_hash, prev_hash, hash) "
        "VALUES ('earn', 'raw', 'test', :at, now(), :key, repeat('0', 64), 0, 999999, "
        "repeat('0', 64), repeat('0', 64), repeat('0', 64))"
    )
    with pytest.raises(DBAPIError) as info, db.engine.begin() as conn:
        conn.execute(insert, {"at": london(2026, 8, 20, 12), "key": "raw-before-september"})
    assert getattr(info.value.orig, "sqlstate", None) == "CR002"


def test_the_first_month_closed_reads_its_own_snapshot(db, month):
    """September is the first month closed: no snapshot before it, so its statement (scheme
    and shops) comes from its own closing snapshot less its movements — the same bytes."""
    before = statements(db, month)
    close_months(db, "2026-09")
    with db.read() as s:
        assert snapshots.has_snapshot(s, SEPTEMBER)
        assert not snapshots.has_snapshot(s, SEPTEMBER.previous())
    assert statements(db, month) == before
