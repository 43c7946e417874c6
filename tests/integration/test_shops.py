"""Partner shops and terminals: officers manage them; terminal tokens work, rotate and stop."""

import pytest
from sqlalchemy import text

from credits import ledger
from credits.accounts import Role

from .web_helpers import csrf_from, sign_in


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER)


def create_shop(client, officer, **body):
    return client.post(
        "/api/v1/shops", json={"name": "Brixton Bakery", **body}, headers=officer.auth
    )


def add_terminal(client, officer, shop_id, **body):
    return client.post(
        f"/api/v1/shops/{shop_id}/terminals", json={"name": "Till 1", **body}, headers=officer.auth
    )


def test_a_shop_gets_a_ledger_account_and_a_terminal_a_working_token(client, officer, db):
    shop = create_shop(
        client, officer, address="12 Atlantic Road", contact_email="Bake@Example.org"
    )
    assert shop.status_code == 201, shop.get_json()
    body = shop.get_json()
    assert body["contact_email"] == "bake@example.org"
    with db.read() as s:
        account = ledger.account_by_code(s, f"shop:{body['id']}")
        assert account is not None and account.type is ledger.AccountType.SHOP
        assert account.id == body["ledger_account_id"]

    created = add_terminal(
        client, officer, body["id"], offline={"floor_limit": 15, "max_count": 5, "max_total": 60}
    )
    assert created.status_code == 201, created.get_json()
    terminal = created.get_json()
    token = terminal.pop("token")
    assert token.startswith("cc_")
    me = client.get("/api/v1/terminal", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json() == {
        "id": terminal["id"],
        "name": "Till 1",
        "shop": {"id": body["id"], "name": "Brixton Bakery"},
        "offline": {
            "floor_limit": 15,
            "max_count": 5,
            "max_total": 60,
            # Extension (issue 12): its monthly exception ceiling, the council's defaults.
            "exceptions_per_month": 3,
            "exception_credits_per_month": 60,
        },
    }
    who = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert who == {"id": terminal["id"], "name": "Till 1 at Brixton Bakery", "role": "terminal"}
    # The token is stored hashed and not listed anywhere again.
    listed = client.get(f"/api/v1/shops/{body['id']}/terminals", headers=officer.auth).get_json()
    assert "token" not in listed[0] and listed[0]["last_seen_at"] is not None
    with db.read() as s:
        assert token not in str(
            s.execute(text("SELECT token_hash, prefix, name FROM api_token")).all()
        )


def test_rotating_revoking_and_deactivating_stop_the_old_token(client, officer):
    shop_id = create_shop(client, officer).get_json()["id"]
    t = add_terminal(client, officer, shop_id).get_json()
    old = {"Authorization": f"Bearer {t['token']}"}
    rotated = client.post(f"/api/v1/terminals/{t['id']}/token", headers=officer.auth)
    assert rotated.status_code == 201
    new = {"Authorization": f"Bearer {rotated.get_json()['token']}"}
    assert client.get("/api/v1/terminal", headers=old).status_code == 401
    assert client.get("/api/v1/terminal", headers=new).status_code == 200
    # An inactive terminal, then an inactive shop, cannot connect; reactivating restores it.
    assert (
        client.patch(
            f"/api/v1/terminals/{t['id']}", json={"active": False}, headers=officer.auth
        ).status_code
        == 200
    )
    assert client.get("/api/v1/terminal", headers=new).status_code == 401
    client.patch(f"/api/v1/terminals/{t['id']}", json={"active": True}, headers=officer.auth)
    client.patch(f"/api/v1/shops/{shop_id}", json={"active": False}, headers=officer.auth)
    assert client.get("/api/v1/terminal", headers=new).status_code == 401
    client.patch(f"/api/v1/shops/{shop_id}", json={"active": True}, headers=officer.auth)
    assert client.get("/api/v1/terminal", headers=new).status_code == 200
    revoked = client.post(f"/api/v1/terminals/{t['id']}/revoke", headers=officer.auth)
    assert revoked.get_json() == {"revoked": 1}
    assert client.get("/api/v1/terminal", headers=new).status_code == 401
    # Every one of those officer actions is in the audit log, attributed to the officer.
    events = client.get("/api/v1/audit-events?per_page=100", headers=officer.auth).get_json()[
        "items"
    ]
    actions = [
        e["action"] for e in events if e["target_ref"] in (f"shop:{shop_id}", f"terminal:{t['id']}")
    ]
    assert sorted(actions) == sorted(
        [
            "shop.create",
            "terminal.create",
            "terminal.token_rotate",
            "terminal.update",
            "terminal.update",
            "shop.update",
            "shop.update",
            "terminal.token_revoke",
        ]
    )
    assert all(
        e["actor"].startswith(f"person:{officer.id} ")
        for e in events
        if e["action"].startswith(("shop.", "terminal."))
    )


@pytest.mark.parametrize("role", [Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF])
def test_only_officers_manage_shops(client, make_person, officer, role):
    shop_id = create_shop(client, officer).get_json()["id"]
    who = make_person(role)
    for method, path, body in [
        ("post", "/api/v1/shops", {"name": "X"}),
        ("get", "/api/v1/shops", None),
        ("patch", f"/api/v1/shops/{shop_id}", {"name": "Y"}),
        ("post", f"/api/v1/shops/{shop_id}/terminals", {"name": "T"}),
        ("get", f"/api/v1/shops/{shop_id}/terminals", None),
    ]:
        resp = getattr(client, method)(path, json=body, headers=who.auth)
        assert resp.status_code == 403, (method, path)
        assert resp.get_json()["code"] == "forbidden"
    assert [s["name"] for s in client.get("/api/v1/shops", headers=officer.auth).get_json()] == [
        "Brixton Bakery"
    ]
    assert client.get("/api/v1/terminal", headers=who.auth).status_code == 403


def test_shop_staff_read_only_their_own_shop(client, db, make_person, officer):
    a = create_shop(client, officer, name="A").get_json()["id"]
    b = create_shop(client, officer, name="B").get_json()["id"]
    staff = make_person(Role.SHOP_STAFF)
    db.run(
        lambda s: s.execute(
            text("UPDATE person_role SET scope_ref = :r WHERE person_id = :p"),
            {"r": f"shop:{a}", "p": staff.id},
        )
    )
    assert client.get(f"/api/v1/shops/{a}", headers=staff.auth).status_code == 200
    assert client.get(f"/api/v1/shops/{b}", headers=staff.auth).status_code == 403


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": 5}, "name"),
        ({"name": "Ok", "contact_email": "not an email"}, "contact_email"),
        ({"name": "Ok", "extra": 1}, "extra"),
    ],
)
def test_bad_shops_are_refused(client, officer, db, body, field):
    resp = client.post("/api/v1/shops", json=body, headers=officer.auth)
    assert resp.status_code == 422 and resp.get_json()["code"] == "validation_error"
    assert field in resp.get_json()["errors"]
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM shop")).scalar_one() == 0


@pytest.mark.parametrize(
    "offline",
    [
        {"floor_limit": -1, "max_count": 1, "max_total": 10},
        {"floor_limit": 1.5, "max_count": 1, "max_total": 10},
        {"floor_limit": "5", "max_count": 1, "max_total": 10},
        {"floor_limit": 50, "max_count": 1, "max_total": 10},
        {"floor_limit": 5, "max_count": 1},
    ],
)
def test_bad_offline_limits_are_refused(client, officer, db, offline):
    shop_id = create_shop(client, officer).get_json()["id"]
    resp = add_terminal(client, officer, shop_id, offline=offline)
    assert resp.status_code == 422 and resp.get_json()["code"] == "validation_error"
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM terminal")).scalar_one() == 0
        assert (
            s.execute(
                text("SELECT count(*) FROM api_token WHERE terminal_id IS NOT NULL")
            ).scalar_one()
            == 0
        )


def test_duplicates_and_unknowns(client, officer):
    create_shop(client, officer)
    dup = create_shop(client, officer, name="brixton bakery")
    assert dup.status_code == 409 and dup.get_json()["code"] == "shop_exists"
    shop_id = client.get("/api/v1/shops", headers=officer.auth).get_json()[0]["id"]
    add_terminal(client, officer, shop_id)
    again = add_terminal(client, officer, shop_id)
    assert again.status_code == 409 and again.get_json()["code"] == "terminal_exists"
    assert client.get("/api/v1/shops/999", headers=officer.auth).status_code == 404
    assert add_terminal(client, officer, 999).status_code == 404
    assert client.post("/api/v1/terminals/999/token", headers=officer.auth).status_code == 404


def test_officer_pages_add_a_shop_and_a_terminal(client, officer):
    sign_in(client, officer.email)
    page = client.get("/officer/shops")
    assert page.status_code == 200
    resp = client.post(
        "/officer/shops",
        data={
            "name": "Brixton Bakery",
            "address": "12 Atlantic Road",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert resp.status_code == 302
    shop_page = client.get(resp.headers["Location"])
    html = shop_page.get_data(as_text=True)
    assert "Brixton Bakery" in html and "no terminal yet" in html
    token_page = client.post(
        resp.headers["Location"] + "/terminals",
        data={
            "name": "Till 1",
            "floor_limit": "20",
            "max_count": "10",
            "max_total": "100",
            "csrf_token": csrf_from(html),
        },
    )
    assert token_page.status_code == 200
    token_html = token_page.get_data(as_text=True)
    assert "shown <strong>only once</strong>" in token_html and 'value="cc_' in token_html
    token = token_html.split('value="cc_')[1].split('"')[0]
    assert (
        client.get("/api/v1/terminal", headers={"Authorization": f"Bearer cc_{token}"}).status_code
        == 200
    )
    # Bad limits on the page: a clear error, nothing added.
    bad = client.post(
        resp.headers["Location"] + "/terminals",
        data={
            "name": "Till 2",
            "floor_limit": "lots",
            "max_count": "10",
            "max_total": "100",
            "csrf_token": csrf_from(html),
        },
    )
    assert bad.status_code == 422 and "whole number" in bad.get_data(as_text=True)
    assert (
        client.get(resp.headers["Location"]).get_data(as_text=True).count("Issue a new token") == 1
    )


def test_members_cannot_open_the_shop_pages(client, make_person):
    member = make_person(Role.MEMBER)
    sign_in(client, member.email)
    assert client.get("/officer/shops", headers={"Accept": "text/html"}).status_code == 403
