"""The earning pages through the test client: volunteers, coordinators, officers.

Every form: good input does what it says; bad input shows a clear message, the status says
so, and nothing is posted (the ledger's entry count, the award count)."""

import re
from datetime import timedelta

import pytest

from credits import earning
from credits.earning import dates
from tests.integration.web_helpers import csrf_from, post_form, sign_in

from .conftest import yesterday


@pytest.fixture
def browser_as(app, scheme):
    """``browser_as(person)`` → a test client signed in as that person."""

    def make(person):
        client = app.test_client()
        resp = sign_in(client, person.email)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return client

    return make


def text_of(resp):
    return re.sub(r"\s+", " ", resp.get_data(as_text=True))


def test_members_land_on_their_balance_and_history(browser_as, scheme):
    scheme.record(quantity="1.5")
    claim = scheme.claim(quantity="2", note="Cleared the school path")
    scheme.run(earning.approve, scheme.coord2, claim.id, idempotency_key="k")
    rejected = scheme.claim(quantity="1", note="Speed watch")
    scheme.run(earning.reject, scheme.coord, rejected.id, reason="Wrong day")
    scheme.claim(quantity="1", key="pending-one")
    ann = browser_as(scheme.ann)
    landing = ann.get("/signed-in")
    assert landing.headers["Location"].endswith("/me")
    page = text_of(ann.get("/me"))
    assert 'class="balance-number">35<' in page
    assert "Snow clearing: 2 hours" in page and "Approved by Dev Coordinator" in page
    assert "Snow clearing: 1.5 hours" in page and "Approved by Cara Coordinator" in page
    assert "Waiting for approval" in page and "Not approved" in page
    assert "Reason: Wrong day" in page
    assert 'href="/me/claim"' in page


def test_a_member_files_a_claim_from_the_form(browser_as, scheme):
    ann = browser_as(scheme.ann)
    form = ann.get("/me/claim")
    page = text_of(form)
    # Only the activities of Ann's groups, with the steps spelled out.
    assert "Snow clearing (10 credits an hour)" in page and "Good Gym" not in page
    assert "hours in steps of 0.1" in page
    data = {
        "activity": "snow-clearing",
        "quantity": "2.5",
        "occurred_on": yesterday().isoformat(),
        "note": "Gritted the steps",
    }
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form.get_data(as_text=True))[1]
    token = csrf_from(form.get_data(as_text=True))
    sent = ann.post("/me/claim", data={**data, "idempotency_key": key, "csrf_token": token})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/me")
    again = ann.post("/me/claim", data={**data, "idempotency_key": key, "csrf_token": token})
    assert again.status_code == 302  # a double tap files once
    assert scheme.awards() == 1
    home = text_of(ann.get("/me"))
    assert "Claim sent: 25 credits for Snow clearing" in home
    assert "Waiting for approval" in home and "Gritted the steps" in home


@pytest.mark.parametrize(
    "change, says",
    [
        ({"quantity": ""}, "quantity is required"),
        ({"quantity": "abc"}, "is not a number"),
        ({"quantity": "0.25"}, "steps of 0.1"),
        ({"quantity": "-1"}, "more than 0"),
        ({"quantity": "100"}, "at most 24 hours"),
        ({"occurred_on": "tomorrow"}, "is in the future"),
        ({"occurred_on": "long-ago"}, "more than 60 days ago"),
        ({"occurred_on": ""}, "YYYY-MM-DD"),
        ({"activity": "good-gym-run", "quantity": "1"}, "not in a group that does Good Gym run"),
        ({"activity": "juggling"}, "no activity"),
        ({"note": "x" * 501}, "at most 500 characters"),
    ],
)
def test_bad_claims_show_a_clear_error_and_file_nothing(browser_as, scheme, change, says):
    ann = browser_as(scheme.ann)
    data = {
        "activity": "snow-clearing",
        "quantity": "1",
        "occurred_on": yesterday().isoformat(),
        "note": "",
        **change,
    }
    if data["occurred_on"] == "tomorrow":
        data["occurred_on"] = (dates.london_today() + timedelta(days=1)).isoformat()
    if data["occurred_on"] == "long-ago":
        data["occurred_on"] = (dates.london_today() - timedelta(days=61)).isoformat()
    resp = post_form(ann, "/me/claim", data)
    assert resp.status_code == 422
    page = text_of(resp)
    assert 'role="alert"' in page and "There is a problem" in page and says in page
    assert "<title>Error: Claim a session" in page
    assert scheme.awards() == 0


def test_a_member_in_no_group_is_told_why_there_is_nothing_to_claim(browser_as, scheme):
    page = text_of(browser_as(scheme.outsider).get("/me/claim"))
    assert "not in a volunteering group yet" in page and "<select" not in page


def test_coordinators_record_one_person(browser_as, scheme):
    cara = browser_as(scheme.coord)
    assert cara.get("/signed-in").headers["Location"].endswith("/coordinator")
    home = text_of(cara.get("/coordinator"))
    assert "Acre Lane snow team" in home and "Brixton Good Gym" not in home
    form = text_of(cara.get("/coordinator/record"))
    assert "Ann Okafor" in form and "Bola Adeyemi" in form and "Zed" not in form
    ok = post_form(
        cara,
        "/coordinator/record",
        {
            "member_email": scheme.ann.email,
            "activity": "snow-clearing",
            "quantity": "3",
            "occurred_on": yesterday().isoformat(),
        },
    )
    assert ok.status_code == 302
    assert "Done: 30 credits for Ann Okafor" in text_of(cara.get("/coordinator/record"))
    assert scheme.balance(scheme.ann) == 30
    big = post_form(
        cara,
        "/coordinator/record",
        {
            "member_email": scheme.bola.email,
            "activity": "snow-clearing",
            "quantity": "6",
            "occurred_on": yesterday().isoformat(),
        },
    )
    assert big.status_code == 302
    assert "Sent to a council officer" in text_of(cara.get("/coordinator/record"))
    assert scheme.balance(scheme.bola) == 0


@pytest.mark.parametrize(
    "change, status, says",
    [
        ({"member_email": "zed"}, 422, "no member"),
        ({"quantity": "0.05"}, 422, "steps of 0.1"),
        ({"quantity": "1.5", "activity": "speed-watch"}, 422, "counted whole"),
        ({"activity": "good-gym-run"}, 403, "do not coordinate a group that does Good Gym run"),
        ({"occurred_on": "2026-02-30"}, 422, "not a real date"),
        ({"member_email": ""}, 422, "Volunteer: required"),
    ],
)
def test_bad_records_show_a_clear_error_and_post_nothing(browser_as, scheme, change, status, says):
    cara = browser_as(scheme.coord)
    data = {
        "member_email": scheme.ann.email,
        "activity": "snow-clearing",
        "quantity": "1",
        "occurred_on": yesterday().isoformat(),
        **change,
    }
    if data["member_email"] == "zed":
        data["member_email"] = scheme.zed.email
    resp = post_form(cara, "/coordinator/record", data)
    assert resp.status_code == status
    page = text_of(resp)
    assert "There is a problem" in page and says in page, page[-3000:]
    assert scheme.entries() == 0 and scheme.awards() == 0


def test_a_session_sheet_posts_one_entry_for_the_people_filled_in(browser_as, scheme):
    cara = browser_as(scheme.coord)
    url = f"/coordinator/groups/{scheme.snow_team}/sheet"
    page = text_of(cara.get(url))
    assert "Ann Okafor" in page and "Bola Adeyemi" in page
    resp = post_form(
        cara,
        url,
        {
            "activity": "snow-clearing",
            "occurred_on": yesterday().isoformat(),
            f"q-{scheme.ann.id}": "2",
            f"q-{scheme.bola.id}": "",
            "note": "First snow",
        },
    )
    assert resp.status_code == 302
    assert scheme.entries() == 1 and scheme.balance(scheme.ann) == 20
    assert scheme.balance(scheme.bola) == 0


def test_a_bad_line_refuses_the_whole_sheet_and_points_at_it(browser_as, scheme):
    cara = browser_as(scheme.coord)
    url = f"/coordinator/groups/{scheme.snow_team}/sheet"
    resp = post_form(
        cara,
        url,
        {
            "activity": "snow-clearing",
            "occurred_on": yesterday().isoformat(),
            f"q-{scheme.ann.id}": "2",
            f"q-{scheme.bola.id}": "0.25",
        },
    )
    assert resp.status_code == 422
    page = text_of(resp)
    assert "Nothing was recorded: 1 line needs correcting" in page
    assert f'id="q-{scheme.bola.id}-error"' in page and "steps of 0.1" in page
    assert 'value="2"' in page  # what was typed is kept
    assert scheme.entries() == 0
    empty = post_form(cara, url, {"activity": "snow-clearing", "occurred_on": "2026-01-01"})
    assert empty.status_code == 422 and "at least one person" in text_of(empty)


def test_coordinators_approve_and_reject_claims_from_their_queue(browser_as, scheme):
    first = scheme.claim(quantity="2")
    second = scheme.claim(scheme.bola, quantity="1")
    cara = browser_as(scheme.coord)
    queue = text_of(cara.get("/coordinator/approvals"))
    assert "Ann Okafor" in queue and "Bola Adeyemi" in queue
    assert "<strong>2</strong> claims waiting for your approval" in text_of(
        cara.get("/coordinator")
    )
    ok = post_form(
        cara,
        f"/coordinator/approvals/{first.id}/approve",
        {"idempotency_key": "page-approve"},
        from_page="/coordinator/approvals",
    )
    assert ok.status_code == 302
    assert "Approved: 20 credits for Ann Okafor" in text_of(cara.get("/coordinator/approvals"))
    assert scheme.balance(scheme.ann) == 20
    no_reason = post_form(
        cara,
        f"/coordinator/approvals/{second.id}/reject",
        {"reason": "  "},
        from_page="/coordinator/approvals",
    )
    assert no_reason.status_code == 302
    assert "Say why you are not approving it" in text_of(cara.get("/coordinator/approvals"))
    assert scheme.run(earning.get_award, scheme.coord, second.id).state == "pending"
    post_form(
        cara,
        f"/coordinator/approvals/{second.id}/reject",
        {"reason": "Not on the rota"},
        from_page="/coordinator/approvals",
    )
    assert scheme.run(earning.get_award, scheme.coord, second.id).reject_reason == (
        "Not on the rota"
    )


def test_coordinators_see_only_their_own_groups(browser_as, scheme):
    gus = browser_as(scheme.other_coord)
    assert gus.get(f"/coordinator/groups/{scheme.snow_team}").status_code == 404
    assert gus.get(f"/coordinator/groups/{scheme.snow_team}/sheet").status_code == 404
    scheme.claim()
    assert "Ann" not in text_of(gus.get("/coordinator/approvals"))
    claim = scheme.claim(key="again")
    resp = post_form(
        gus,
        f"/coordinator/approvals/{claim.id}/approve",
        {"idempotency_key": "x"},
        from_page="/coordinator/approvals",
    )
    assert resp.status_code == 302 and scheme.entries() == 0


def test_pages_are_guarded_by_role(app, browser_as, scheme):
    anon = app.test_client()
    for path in ("/me", "/me/claim", "/coordinator", "/officer/earning"):
        resp = anon.get(path)
        assert resp.status_code == 302 and "/sign-in" in resp.headers["Location"]
    ann = browser_as(scheme.ann)
    for path in ("/coordinator", "/coordinator/record", "/officer/earning"):
        assert ann.get(path).status_code == 403
    cara = browser_as(scheme.coord)
    assert cara.get("/me").status_code == 403
    assert cara.get("/officer/earning/activities").status_code == 403
    olu = browser_as(scheme.officer)
    assert olu.get("/coordinator").status_code == 403
    # A form without its CSRF token is refused and changes nothing.
    resp = ann.post("/me/claim", data={"activity": "snow-clearing", "quantity": "1"})
    assert resp.status_code == 403 and scheme.awards() == 0


def test_officers_manage_activities_and_budgets(browser_as, scheme):
    olu = browser_as(scheme.officer)
    assert olu.get("/signed-in").headers["Location"].endswith("/officer")
    assert "Snow clearing" in text_of(olu.get("/officer/earning/activities"))
    new = {
        "slug": "litter-pick",
        "name": "Litter pick",
        "description": "Bags and grabbers from the depot",
        "unit": "hour",
        "credits_per_unit": "4",
        "week_cap_credits": "20",
        "month_cap_credits": "60",
        "monthly_budget_credits": "500",
    }
    bad = post_form(
        olu,
        "/officer/earning/activities/new",
        {**new, "slug": "Litter Pick!", "credits_per_unit": "x"},
    )
    assert bad.status_code == 422
    page = text_of(bad)
    assert "lower-case letters" in page and "must be a whole number" in page
    assert post_form(olu, "/officer/earning/activities/new", new).status_code == 302
    taken = post_form(olu, "/officer/earning/activities/new", new)
    assert taken.status_code == 409 and "already an activity" in text_of(taken)
    edit = "/officer/earning/activities/litter-pick"
    assert 'value="Litter pick"' in text_of(olu.get(edit))
    saved = post_form(olu, edit, {**new, "credits_per_unit": "5"})  # no "active": deactivates
    assert saved.status_code == 302
    with scheme.db.read() as s:
        row = earning.get_activity(s, "litter-pick")
        assert (row.credits_per_unit, row.active) == (5, False)
    too_big = post_form(olu, edit, {**new, "week_cap_credits": "100"})
    assert too_big.status_code == 422 and "cannot be more than the monthly cap" in text_of(too_big)
    # Budgets.
    scheme.record(quantity="4")
    month = dates.month_key(yesterday())
    budgets = "/officer/earning/activities/snow-clearing/budgets"
    assert month in text_of(olu.get(budgets))
    garbled = post_form(olu, budgets, {"month": month, "budget_credits": "lots"})
    assert garbled.status_code == 422
    assert f'href="#budget-{month}"' in text_of(garbled) and "must be a whole number" in text_of(
        garbled
    )
    bad_month = post_form(olu, budgets, {"month": "2026-13", "budget_credits": "5"})
    assert bad_month.status_code == 422 and "is not a month" in text_of(bad_month)
    below = post_form(olu, budgets, {"month": month, "budget_credits": "10"})
    assert below.status_code == 422 and "already been issued" in text_of(below)
    ok = post_form(olu, budgets, {"month": month, "budget_credits": "900"})
    assert ok.status_code == 302
    with scheme.db.read() as s:
        view = earning.budget_view(s, earning.get_activity(s, "snow-clearing"), _month(month))
    assert (view.budget_credits, view.is_default, view.issued_credits) == (900, False, 40)
    post_form(olu, budgets, {"month": month, "budget_credits": ""})
    with scheme.db.read() as s:
        view = earning.budget_view(s, earning.get_activity(s, "snow-clearing"), _month(month))
    assert view.is_default


def test_officers_manage_groups(browser_as, scheme):
    olu = browser_as(scheme.officer)
    bad = post_form(olu, "/officer/earning/groups/new", {"name": ""})
    assert bad.status_code == 422 and "is required" in text_of(bad)
    made = post_form(
        olu,
        "/officer/earning/groups/new",
        {"name": "Tulse Hill watch", "activities": "speed-watch"},
    )
    assert made.status_code == 302
    url = made.headers["Location"]
    gid = int(url.rsplit("/", 1)[1])
    post_form(
        olu, f"/officer/earning/groups/{gid}/members", {"email": scheme.zed.email}, from_page=url
    )
    post_form(
        olu,
        f"/officer/earning/groups/{gid}/members",
        {"email": "nobody@test.example"},
        from_page=url,
    )
    assert "no member registered with nobody@test.example" in text_of(olu.get(url))
    post_form(
        olu,
        f"/officer/earning/groups/{gid}/coordinators",
        {"email": scheme.coord.email},
        from_page=url,
    )
    page = text_of(olu.get(url))
    assert "Zed Zephyr" in page and "Cara Coordinator" in page
    dup = post_form(olu, url, {"name": "Acre Lane snow team", "active": "yes"})
    assert dup.status_code == 409 and "already a group" in text_of(dup)
    post_form(
        olu, f"/officer/earning/groups/{gid}/members/{scheme.zed.id}/remove", {}, from_page=url
    )
    with scheme.db.read() as s:
        view = earning.get_group(s, scheme.p(scheme.officer), gid)
    assert view.members == () and [c.name for c in view.coordinators] == ["Cara Coordinator"]
    assert [a.slug for a in view.activities] == ["speed-watch"]


def test_officers_give_the_second_approval_and_set_the_threshold(browser_as, scheme):
    big = scheme.record(quantity="6")
    olu = browser_as(scheme.officer)
    page = text_of(olu.get("/officer/earning/approvals"))
    assert "Waiting for an officer (1)" in page and "Ann Okafor" in page
    post_form(
        olu,
        f"/officer/earning/approvals/{big.id}/approve",
        {"idempotency_key": "o-1"},
        from_page="/officer/earning/approvals",
    )
    assert scheme.balance(scheme.ann) == 60
    bad = post_form(olu, "/officer/earning/settings", {"four_eyes_threshold_credits": "-5"})
    assert bad.status_code == 422 and "must be between 0" in text_of(bad)
    assert (
        post_form(
            olu, "/officer/earning/settings", {"four_eyes_threshold_credits": "75"}
        ).status_code
        == 302
    )
    with scheme.db.read() as s:
        assert earning.four_eyes_threshold(s) == 75


def test_the_officer_who_gave_the_first_approval_is_not_offered_the_second(browser_as, scheme):
    claim = scheme.claim(quantity="6")
    scheme.run(earning.approve, scheme.officer, claim.id, idempotency_key="first")
    page = text_of(browser_as(scheme.officer).get("/officer/earning/approvals"))
    assert "You gave the first approval" in page
    page2 = text_of(browser_as(scheme.officer2).get("/officer/earning/approvals"))
    assert f"/officer/earning/approvals/{claim.id}/approve" in page2


def _month(text):
    from credits.ledger import Month

    return Month.parse(text)
