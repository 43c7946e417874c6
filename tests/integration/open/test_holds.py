"""Holding back a month's publication, and releasing it: officers only, with a reason,
audited; the public record says the month is held and shows its figures nowhere — not even
by difference in the year so far; every worker sees it at once (the cache's stamp)."""

from __future__ import annotations

import threading

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits import audit, create_app
from credits.ledger import Month
from credits.open import AlreadyHeld, NotHeld, hold, release

from ..web_helpers import post_form, sign_in
from .conftest import NOW

OCTOBER = Month(2026, 10)


def _get(client, path, **kw):
    with freeze_time(NOW):
        return client.get(path, **kw)


def _events(db, action):
    with db.read() as s:
        return s.execute(
            text("SELECT actor, target_ref, details FROM audit_event WHERE action = :a"),
            {"a": action},
        ).all()


def test_an_officer_holds_a_month_back_and_releases_it(worked, app, client, db):
    web = app.test_client()
    with freeze_time(NOW):
        assert sign_in(web, worked.officer.email).status_code == 302
        page = web.get("/officer/statements/2026-10").get_data(as_text=True)
        assert "is published on" in page and "Hold back 2026-10" in page
        # Warm every cache first: a hold must reach what was already served.
        year_before = client.get("/api/v1/open/months").get_json()["year_so_far"]
        assert client.get("/api/v1/open/2026-10").status_code == 200
        resp = post_form(
            web,
            "/officer/open/2026-10/hold",
            {"reason": "A shop disputes its redemptions; investigating complaint C-17"},
            from_page="/officer/statements/2026-10",
        )
    assert resp.status_code == 303
    [(actor, target, details)] = _events(db, "publication.hold")
    assert target == "month:2026-10"
    assert actor.startswith(f"person:{worked.officer.id} ")
    assert "complaint C-17" in str(details)

    held = _get(client, "/api/v1/open/2026-10")
    assert held.status_code == 404 and held.get_json()["code"] == "publication_held"
    assert _get(client, "/api/v1/open/2026-10?format=csv").status_code == 404
    assert _get(client, "/api/v1/open/data/2026-10.csv").status_code == 404
    index = _get(client, "/open").get_data(as_text=True)
    assert "Held back by the council since 25 November 2026" in index
    assert "complaint" not in index.lower(), "the reason is never published"
    months = _get(client, "/api/v1/open/months").get_json()
    assert {m["month"]: m["status"] for m in months["months"]} == {
        "2026-10": "held",
        "2026-09": "published",
    }
    assert "complaint" not in str(months).lower()
    # The year so far leaves October out entirely: no differencing the year against its
    # published months gives October's figures.
    year = months["year_so_far"]
    assert year["months"] == ["2026-09"]
    assert year["credits_earned"] == 10 and year_before["credits_earned"] == 165
    assert year["credits_spent"] == 0 and year["owed_pence"] == 0
    package = _get(client, "/api/v1/open/data/datapackage.json").get_json()
    assert [r["path"] for r in package["resources"]] == ["2026-09.csv"]
    page = _get(client, "/open/2026-10")
    assert page.status_code == 404 and "held back" in page.get_data(as_text=True)
    with freeze_time(NOW):
        officer_page = web.get("/officer/statements/2026-10").get_data(as_text=True)
        assert "complaint C-17" in officer_page and "Publish 2026-10 again" in officer_page
        resp = post_form(
            web,
            "/officer/open/2026-10/release",
            {"reason": "Complaint C-17 closed: the figures stand"},
            from_page="/officer/statements/2026-10",
        )
    assert resp.status_code == 303
    assert len(_events(db, "publication.release")) == 1
    assert _get(client, "/api/v1/open/2026-10").status_code == 200
    assert _get(client, "/api/v1/open/months").get_json()["year_so_far"] == year_before


def test_holding_needs_a_reason_an_officer_and_a_month_not_held(worked, app, client, db):
    officer = audit.Actor("cli:test")
    with pytest.raises(Exception, match="reason"):
        db.run(lambda s: hold(s, officer, OCTOBER, "   "))
    with freeze_time(NOW):
        db.run(lambda s: hold(s, officer, OCTOBER, "checking a complaint"))
        with pytest.raises(AlreadyHeld):
            db.run(lambda s: hold(s, officer, OCTOBER, "again"))
        db.run(lambda s: release(s, officer, OCTOBER))
        with pytest.raises(NotHeld):
            db.run(lambda s: release(s, officer, OCTOBER))
        with pytest.raises(Exception, match="not started"):
            db.run(lambda s: hold(s, officer, Month(2027, 3), "too early"))
    # A member (or anyone not an officer) cannot reach the form's target.
    member = app.test_client()
    with freeze_time(NOW):
        assert sign_in(member, worked.scheme.ann.email).status_code == 302
        resp = post_form(member, "/officer/open/2026-10/hold", {"reason": "x"}, from_page="/")
    assert resp.status_code == 403
    assert len(_events(db, "publication.hold")) == 1  # the officer's, above


def test_the_command_line_holds_and_releases(worked, runner, client):
    from credits.cli import main

    with freeze_time(NOW):
        ok = runner.invoke(main, ["hold-publication", "2026-10", "--reason", "a complaint"])
        assert ok.exit_code == 0, ok.output
        assert client.get("/api/v1/open/2026-10").status_code == 404
        again = runner.invoke(main, ["hold-publication", "2026-10", "--reason", "again"])
        assert again.exit_code != 0 and "already_held" in again.output
        ok = runner.invoke(main, ["release-publication", "2026-10"])
        assert ok.exit_code == 0, ok.output
        assert client.get("/api/v1/open/2026-10").status_code == 200


def test_a_month_held_before_its_close_is_not_published_when_it_closes(
    db, client, make_person, services
):
    from ..statements.worked_month import build_worked_month, close_months

    build_worked_month(db, client, make_person)
    with freeze_time(NOW):
        db.run(lambda s: hold(s, audit.Actor("cli:test"), OCTOBER, "before the close"))
    close_months(db, "2026-09", "2026-10")
    assert _get(client, "/api/v1/open/2026-10").get_json()["code"] == "publication_held"
    assert _get(client, "/api/v1/open/2026-09").status_code == 200


def test_a_close_reaches_every_worker_at_once(db, client, make_person, services):
    """Two apps (two gunicorn workers) with warm caches: the close made by one process is
    served by the other on its next request, and a request with nothing new rebuilds
    nothing."""
    from ..statements.worked_month import build_worked_month, close_months

    build_worked_month(db, client, make_person)
    close_months(db, "2026-09")
    first, second = client, create_app(services=services).test_client()
    for c in (first, second):
        assert _get(c, "/api/v1/open/2026-10").status_code == 404
        assert _get(c, "/api/v1/open/2026-09").status_code == 200
    record = first.application.extensions["credits_open"]
    builds = record.builds
    for _ in range(3):
        assert _get(first, "/open").status_code == 200
        assert _get(first, "/api/v1/open/months").status_code == 200
    assert record.builds == builds, "nothing changed: served from the cache"
    close_months(db, "2026-10")  # as another process would
    for c in (first, second):
        assert _get(c, "/api/v1/open/2026-10").status_code == 200
        assert "2026-10" in _get(c, "/open").get_data(as_text=True)
    assert record.builds == builds + 1


@pytest.mark.postgres
def test_two_officers_holding_at_once_make_one_hold(worked, db):
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        def use_case(s):
            barrier.wait(timeout=10)
            return hold(s, audit.Actor(f"cli:officer{n}"), OCTOBER, f"complaint {n}", now=NOW)

        try:
            db.run(use_case, attempts=1)
            outcomes.append("held")
        except AlreadyHeld:
            outcomes.append("already_held")
        except Exception as exc:  # the loser's unique violation asks for a retry
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["RetryTransaction", "held"]
    with db.read() as s:
        held = s.execute(text("SELECT count(*) FROM publication_hold WHERE active = 1"))
        assert held.scalar_one() == 1
    # Retried, as Database.run does, the loser is told the month is already held.
    with pytest.raises(AlreadyHeld):
        db.run(lambda s: hold(s, audit.Actor("cli:officer2"), OCTOBER, "complaint 2", now=NOW))


def test_a_process_reads_the_stamp_at_most_once_a_second(worked, db, services):
    """Serving costs the database one small query a second per process, whatever the
    traffic; a change reaches the process within that second, or at once where it was
    made (expire)."""
    from credits.open import Meta, PublicRecordService

    now = [100.0]
    record = PublicRecordService(
        db, services.settings.instance_path, Meta("Test Council"), recheck_s=1.0,
        clock=lambda: now[0],
    )  # fmt: skip
    first = record.current()
    for _ in range(50):
        assert record.current() is first
    assert record.stamp_reads == 1 and record.builds == 1
    with freeze_time(NOW):
        db.run(lambda s: hold(s, audit.Actor("cli:test"), OCTOBER, "a complaint"))
    now[0] += 0.5
    assert record.current() is first, "within the second: the version already served"
    now[0] += 0.5
    held = record.current()
    assert held is not first and held.record.entry(OCTOBER).published is None
    assert record.stamp_reads == 2
    now[0] += 0.1
    assert record.current() is held and record.stamp_reads == 2
    with freeze_time(NOW):
        db.run(lambda s: release(s, audit.Actor("cli:test"), OCTOBER))
    record.expire()  # as the officer's page does after a hold or release
    assert record.current().record.entry(OCTOBER).published is not None
    assert record.stamp_reads == 3 and record.builds == 3
