"""The printable balance statement (/people/<id>/statement) and printing a member's voucher:
who may read whose (a member their own, a coordinator their groups' members, an officer
anyone's; everyone else "not found"), and what the one page shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time

from credits import earning
from credits.vouchers.service import display_reference, get_voucher

from .earning.conftest import build_scheme
from .voucher_helpers import issue
from .web_helpers import sign_in

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(db: Any, make_person: Any) -> Any:
    """The earning tests' scheme; Ann earned 30 credits and holds a 10-credit voucher."""
    scheme = build_scheme(db, make_person)
    with freeze_time(NOW):
        scheme.run(
            earning.record_award,
            scheme.coord,
            member_email=scheme.ann.email,
            activity="snow-clearing",
            quantity="3",
            occurred_on="2026-11-19",
            idempotency_key="snow",
            note="Acre Lane steps",
        )
    return scheme


def page(app: Any, who: Any, path: str) -> Any:
    client = app.test_client()
    assert sign_in(client, who.email).status_code == 302
    return client.get(path, headers={"Accept": "text/html"})


def test_the_statement_shows_balance_history_vouchers_and_contact(app, world):
    with freeze_time(NOW):
        voucher = issue(app.test_client(), world.ann, 10).get_json()
        resp = page(app, world.officer, f"/people/{world.ann.id}/statement")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Balance statement for Ann Okafor" in html
    assert "statement-print.css" in html and "data-print" in html
    assert "20 credits" in html and "10 credits" in html  # to spend; held in vouchers
    with world.db.read() as s:
        reference = display_reference(get_voucher(s, voucher["id"]))
    assert reference in html
    assert f"/vouchers/{voucher['id']}/print" in html  # officers reach the voucher's print
    assert "Your council" in html and "credits@council.example" in html
    assert "+30" in html and "\u221210" in html  # earned; turned into a voucher
    sheet = app.test_client().get("/static/statement-print.css")
    assert "@media print" in sheet.get_data(as_text=True) and "size: A4" in sheet.get_data(
        as_text=True
    )
    sheet.close()


def test_who_may_read_whose_statement(app, world):
    ann, bola, zed, outsider = world.ann, world.bola, world.zed, world.outsider
    allowed = [
        (world.officer, ann), (world.officer, zed), (world.officer, outsider),
        (world.coord, ann), (world.coord, bola), (world.other_coord, zed), (ann, ann),
    ]  # fmt: skip
    refused = [
        (world.coord, zed), (world.coord, outsider), (world.other_coord, ann), (ann, bola),
        (world.officer, world.coord),  # not a member: no statement
    ]  # fmt: skip
    for who, whose in allowed:
        resp = page(app, who, f"/people/{whose.id}/statement")
        assert resp.status_code == 200, (who.name, whose.name)
        assert whose.name in resp.get_data(as_text=True)
    for who, whose in refused:
        resp = page(app, who, f"/people/{whose.id}/statement")
        assert resp.status_code == 404, (who.name, whose.name)
        assert whose.name not in resp.get_data(as_text=True)
    assert page(app, world.officer, "/people/999999/statement").status_code == 404
    assert page(app, world.shop, f"/people/{ann.id}/statement").status_code == 403
    assert app.test_client().get(f"/people/{ann.id}/statement").status_code == 302


def test_the_member_page_links_reach_the_statement(app, world):
    assert f"/people/{world.ann.id}/statement" in page(app, world.ann, "/me").get_data(as_text=True)
    group = page(app, world.coord, f"/coordinator/groups/{world.snow_team}")
    assert f"/people/{world.ann.id}/statement" in group.get_data(as_text=True)
    person = page(app, world.officer, f"/officer/people/{world.ann.id}")
    assert f"/people/{world.ann.id}/statement" in person.get_data(as_text=True)


def test_a_coordinator_prints_their_members_vouchers_only(app, world):
    with freeze_time(NOW):
        voucher = issue(app.test_client(), world.ann, 10).get_json()
        mine = page(app, world.coord, f"/vouchers/{voucher['id']}/print")
        other = page(app, world.other_coord, f"/vouchers/{voucher['id']}/print")
    assert mine.status_code == 200 and "<svg" in mine.get_data(as_text=True)
    assert other.status_code == 404 and "<svg" not in other.get_data(as_text=True)
