"""`credits verify` proves settled credits equal the approved runs — and notices when they do
not; the migration opens the settled account in a database bootstrapped before it existed;
remittances are emailed with their PDF."""

from __future__ import annotations

from alembic import command
from freezegun import freeze_time
from sqlalchemy import text

from credits import ledger, verify_checks
from credits.accounts import Role
from credits.db import Database, alembic_config, make_engine
from credits.mail import read_outbox

from .helpers import SETTLE_AT, close_october, set_payees, settle_october, start_run


def _failed(db) -> dict[str, list[str]]:
    with db.read() as s:
        results = ledger.run_checks(s, verify_checks.all_checks())
    return {r.name: r.problems for r in results if not r.ok}


def test_verify_notices_an_edited_run_and_a_stray_settlement(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    run = settle_october(client, db, month, second)
    assert _failed(db) == {}
    line = run["lines"][0]

    db.run(
        lambda s: s.execute(
            text("UPDATE settlement_line SET credits = credits + 1 WHERE id = :i"),
            {"i": line["id"]},
        )
    )
    failed = _failed(db)
    assert set(failed) == {"settlement_entries", "settlement_runs"}
    assert any("settles 30 credits" in p for p in failed["settlement_entries"])
    assert any("the settled account holds 52 credits" in p for p in failed["settlement_entries"])
    db.run(
        lambda s: s.execute(
            text("UPDATE settlement_line SET credits = credits - 1, paid_pence = 7 WHERE id = :i"),
            {"i": line["id"]},
        )
    )
    assert _failed(db) == {
        "settlement_runs": [
            f"settlement line {line['id']}: paid 7 pence, the bank lines matched to it show 0"
        ]
    }
    db.run(lambda s: s.execute(text("UPDATE settlement_line SET paid_pence = 0")))

    # Credits moved to settled outside any run.
    with db.read() as s:
        settled = ledger.scheme_account(s, ledger.SETTLED).id
    with freeze_time(SETTLE_AT):
        stray = db.run(
            lambda s: ledger.post_entry(
                s,
                ledger.EntryRequest(
                    kind=ledger.EntryKind.SETTLEMENT,
                    legs=(ledger.Leg(month.shop_a["account"], -3), ledger.Leg(settled, 3)),
                    memo="a settlement no run made",
                    actor="test",
                    idempotency_key="stray",
                ),
            )
        )
    problems = _failed(db)["settlement_entries"]
    assert f"entry {stray.id} posts to the settled account but settles no run's line" in problems
    assert "the settled account holds 55 credits; the approved runs settled 52" in problems
    assert "3 settlement entries, but approved runs have 2 lines" in problems


def test_a_pending_run_holds_no_entry(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        run = start_run(client, month.officer).get_json()
    assert _failed(db) == {}
    with db.read() as s:
        entry = s.execute(text("SELECT max(id) FROM journal_entry")).scalar_one()
    db.run(
        lambda s: s.execute(
            text("UPDATE settlement_line SET entry_id = :e WHERE id = :i"),
            {"e": entry, "i": run["lines"][0]["id"]},
        )
    )
    problems = _failed(db)["settlement_entries"]
    assert problems == [
        f"settlement line {run['lines'][0]['id']} (pending, payable) has entry {entry}"
    ]


def test_remittances_are_emailed_with_their_pdf(client, db, month, make_person, services):
    second = make_person(Role.OFFICER)
    db.run(
        lambda s: s.execute(
            text("UPDATE shop SET contact_email = 'accounts@bakery.example' WHERE id = :i"),
            {"i": month.shop_a["shop_id"]},
        )
    )
    run = settle_october(client, db, month, second)
    (mail,) = read_outbox(services.settings.instance_path / "mail", kind="remittance")
    assert mail.to == "accounts@bakery.example"
    a = month.shop_a["shop_id"]
    assert mail.subject == f"Remittance advice CC202610R{run['id']}S{a}: 14.50 pounds"
    assert "2026-10: 29 credits at 50p = 14.50 pounds" in mail.body
    assert "**-**-99 ****4958" in mail.body and "66374958" not in mail.body
    assert mail.link().endswith(f"/shop/remittances/{run['id']}")
    (pdf,) = [p for p in mail.raw.iter_attachments()]
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_content().startswith(b"%PDF")


def test_the_migration_opens_the_settled_account_in_an_older_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0017")
    db = Database(engine)
    db.run(lambda s: ledger.bootstrap(s, hot_slots=4))
    # A ledger bootstrapped before the settled account existed.
    db.run(
        lambda s: s.execute(
            text(
                "DELETE FROM account_balance WHERE account_id = "
                "(SELECT id FROM account WHERE code = 'scheme:settled')"
            )
        )
    )
    db.run(lambda s: s.execute(text("DELETE FROM account WHERE code = 'scheme:settled'")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with db.read() as s:
        info = ledger.account_by_code(s, ledger.SETTLED)
        assert info is not None and info.type is ledger.AccountType.SETTLED
        slots = s.execute(
            text("SELECT count(*), sum(balance) FROM account_balance WHERE account_id = :a"),
            {"a": info.id},
        ).one()
        created = s.execute(
            text("SELECT created_at FROM account WHERE id = :a"), {"a": info.id}
        ).scalar_one()
    assert tuple(slots) == (4, 0)
    assert created is not None
    with db.read() as s:
        assert [r.name for r in ledger.run_checks(s, verify_checks.all_checks()) if not r.ok] == []
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0017")
    with db.read() as s:
        assert ledger.account_by_code(s, ledger.SETTLED) is None
    engine.dispose()
