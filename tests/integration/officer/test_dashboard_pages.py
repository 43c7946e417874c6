"""The dashboard page, the exceptions page, and reversing a redemption from the queue."""

from __future__ import annotations

import re
from typing import Any

import pytest

from credits.accounts import Role
from credits.db import utcnow
from credits.i18n import format_month
from credits.ledger import Month

from ..ledger_helpers import bal
from ..people_helpers import audit_actions, snapshot
from ..test_redemption import fetch_spent_list, issue, make_terminal, redeem
from ..web_helpers import post_form, sign_in


@pytest.fixture
def officer(make_person: Any) -> Any:
    return make_person(Role.OFFICER, name="Olu Officer")


@pytest.fixture
def office(client: Any, officer: Any) -> Any:
    assert sign_in(client, officer.email).status_code == 302
    return client


@pytest.fixture
def trading(client: Any, db: Any, make_person: Any) -> dict[str, Any]:
    """A spent voucher, an offline double spend of another, at two shops."""
    ann = make_person(Role.MEMBER, credits=100, name="Ann Okafor")
    till = make_terminal(db)
    hardware = make_terminal(db, name="Acre Lane Hardware", till="Counter")
    fetch_spent_list(client, hardware)  # it keeps the offline rules: its claim is paid
    v = issue(client, ann, 30)
    rid = redeem(client, till, v["code"], key="v").get_json()["id"]
    w = issue(client, ann, 15)
    at = utcnow().isoformat()
    redeem(client, till, w["code"], key="w1", offline_accepted_at=at)
    double = redeem(client, hardware, w["code"], key="w2", offline_accepted_at=at).get_json()
    return {
        "ann": ann,
        "till": till,
        "hardware": hardware,
        "rid": rid,
        "v": v,
        "w": w,
        "double": double,
    }


def test_the_dashboard_draws_its_charts_with_the_numbers_in_text(office, trading):
    body = office.get("/officer").get_data(as_text=True)
    # The table's months are written out ("December 2026"), as a screen reader says them.
    month = format_month(Month.containing(utcnow()).starts_at, "en")
    # Two inline SVG charts, each named by its <title> and described by a <desc>.
    assert body.count('<svg class="chart"') == 2
    assert '<title id="flows-chart-title">' in body and '<desc id="flows-chart-desc">' in body
    assert 'aria-labelledby="flows-chart-title flows-chart-desc"' in body
    # The numbers are in the page as text: 100 issued (seeded), 45 redeemed this month.
    row = re.search(rf"<th scope=\"row\">{month}</th><td>(\d+)</td><td>(\d+)</td>", body)
    assert row and row.groups() == ("100", "45"), body
    # Outstanding now: Ann's 100 less the two vouchers she spent (30, 15); none open.
    assert f"{month} (now)</th><td>55</td>" in body
    assert "Brixton Bakery" in body and 'class="queue-double_spend"' in body
    assert "/officer/exceptions" in body and "/officer/audit" in body


def test_the_exceptions_page_filters_and_links(office, trading):
    body = office.get("/officer/exceptions").get_data(as_text=True)
    assert 'class="queue-double_spend"' in body
    assert f"/officer/vouchers/{trading['w']['id']}" in body
    assert f"/officer/people/{trading['ann'].id}" in body
    hardware = office.get(f"/officer/exceptions?shop={trading['hardware']['shop_id']}")
    assert 'class="queue-double_spend"' in hardware.get_data(as_text=True)
    other = office.get("/officer/exceptions?kind=reversal").get_data(as_text=True)
    assert 'class="queue-double_spend"' not in other and "Nothing matches." in other
    bad = office.get("/officer/exceptions?month=2026-13")
    assert bad.status_code == 422 and "is not a month" in bad.get_data(as_text=True)
    voucher = office.get(f"/officer/vouchers/{trading['w']['id']}").get_data(as_text=True)
    assert "Offline double spends of this voucher" in voucher and "Acre Lane Hardware" in voucher
    assert office.get(f"/officer/vouchers/{'0' * 32}").status_code == 404
    assert office.get("/officer/vouchers/not-an-id").status_code == 404


def test_an_officer_reverses_a_redemption_from_its_page(office, db, trading):
    path = f"/officer/redemptions/{trading['rid']}"
    page = office.get(path).get_data(as_text=True)
    assert "Reverse the redemption" in page and "Brixton Bakery" in page
    before = snapshot(db)
    empty = post_form(office, path + "/reverse", {"reason": ""}, from_page=path)
    assert empty.status_code == 422 and snapshot(db) == before
    no_csrf = office.post(path + "/reverse", data={"reason": "charged twice"})
    assert no_csrf.status_code == 403 and snapshot(db) == before
    done = post_form(office, path + "/reverse", {"reason": "charged twice"}, from_page=path)
    assert done.status_code == 302
    assert bal(db, trading["ann"].account_id) == 100 - 30 - 15 + 30
    assert "redemption.reverse" in audit_actions(db, f"redemption:{trading['rid']}")
    after = office.get(path).get_data(as_text=True)
    assert "charged twice" in after and "Reverse the redemption" not in after
    queue = office.get("/officer/exceptions?kind=reversal").get_data(as_text=True)
    assert "charged twice" in queue
    again = post_form(office, path + "/reverse", {"reason": "again"}, from_page=path)
    assert again.status_code == 409


def test_resolving_a_double_spend_from_the_voucher_page(office, db, trading):
    path = f"/officer/vouchers/{trading['w']['id']}"
    target = f"/officer/redemption-exceptions/{trading['double']['id']}/resolve"
    assert post_form(office, target, {"resolution": ""}, from_page=path).status_code == 422
    done = post_form(office, target, {"resolution": "member repaid 15"}, from_page=path)
    assert done.status_code == 302
    assert "member repaid 15" in office.get(path).get_data(as_text=True)


def test_members_cannot_see_the_exceptions(client, make_person, trading):
    member = trading["ann"]
    assert sign_in(client, member.email).status_code == 302
    assert client.get("/officer/exceptions").status_code == 403
    assert client.get(f"/officer/redemptions/{trading['rid']}").status_code == 403


def test_held_and_refused_claims_in_the_queue_and_decided_from_the_voucher_page(
    office, client, db, make_person
):
    """A till above its monthly ceiling: its claim is held; an officer pays one and declines
    another from the voucher page. A claim refused by the bounding rule is listed too."""
    from credits import audit, shops

    ann = make_person(Role.MEMBER, credits=100, name="Ann Okafor")
    till = make_terminal(db)
    hardware = make_terminal(db, name="Acre Lane Hardware", till="Counter")
    db.run(
        lambda s: shops.update_terminal(
            s,
            audit.Actor.system("test"),
            hardware["terminal_id"],
            limits=shops.OfflineLimits(20, 10, 100, 0, 60),  # every claim waits for an officer
        )
    )
    fetch_spent_list(client, hardware)
    spent = [issue(client, ann, 5) for _ in range(2)]
    for n, v in enumerate(spent):
        redeem(client, till, v["code"], key=f"online-{n}")
    at = utcnow().isoformat()
    held = [
        redeem(client, hardware, v["code"], key=f"claim-{n}", offline_accepted_at=at).get_json()
        for n, v in enumerate(spent)
    ]
    assert [h["status"] for h in held] == ["held", "held"]
    own = redeem(client, till, spent[0]["code"], key="own", offline_accepted_at=at)
    assert own.status_code == 409

    queue = office.get("/officer/exceptions?kind=double_spend").get_data(as_text=True)
    assert queue.count("tag-held") == 2 and "tag-refused" in queue
    assert "waiting for a decision" in queue and "Refused: the shop could have known" in queue

    first = f"/officer/vouchers/{spent[0]['id']}"
    page = office.get(first).get_data(as_text=True)
    assert "Pay 5 credits to the shop" in page and "Decline: pay nothing" in page
    before = snapshot(db)
    pay = f"/officer/redemption-exceptions/{held[0]['exception']['id']}/pay"
    assert office.post(pay, data={"reason": "x"}).status_code == 403  # no CSRF token
    assert snapshot(db) == before
    done = post_form(office, pay, {"reason": "till roll checked"}, from_page=first)
    assert done.status_code == 302
    assert bal(db, hardware["account"]) == 5
    assert "till roll checked" in office.get(first).get_data(as_text=True)
    assert post_form(office, pay, {}, from_page=first).status_code == 409  # decided already

    second = f"/officer/vouchers/{spent[1]['id']}"
    decline = f"/officer/redemption-exceptions/{held[1]['exception']['id']}/decline"
    assert post_form(office, decline, {"reason": ""}, from_page=second).status_code == 422
    done = post_form(office, decline, {"reason": "online all day"}, from_page=second)
    assert done.status_code == 302 and bal(db, hardware["account"]) == 5
    assert "Declined" in office.get(second).get_data(as_text=True)
    assert {"redemption.exception_pay", "redemption.exception_decline"} <= set(
        audit_actions(db, f"exception:{held[0]['exception']['id']}")
        + audit_actions(db, f"exception:{held[1]['exception']['id']}")
    )
