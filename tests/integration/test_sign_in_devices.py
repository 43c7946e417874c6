"""Sign-in: device cookies keep the owner's browser in while someone else's guesses lock the
account (OWASP "device cookies"), and stored hashes are upgraded at sign-in."""

from __future__ import annotations

import json
from datetime import timedelta

from argon2 import PasswordHasher
from freezegun import freeze_time
from sqlalchemy import text

from credits import create_app
from credits.accounts import Person, Role, devices
from credits.db import utcnow
from credits.services import Services

from .people_helpers import audit_actions
from .web_helpers import post_form, sign_in

RIGHT = "correct horse battery"
WRONG = "not the password at all"
OWNER_IP, ATTACKER_IP = "198.51.100.7", "203.0.113.66"


def browser(app, ip):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def lock_out(app, email, times=5):
    """Someone without a device cookie guesses ``times`` times."""
    attacker = browser(app, ATTACKER_IP)
    for _ in range(times):
        assert sign_in(attacker, email, WRONG).status_code == 401
    assert sign_in(attacker, email, RIGHT).status_code == 429
    return attacker


def test_the_owners_browser_still_signs_in_while_the_guesser_stays_locked_out(app, make_person):
    ann = make_person(Role.MEMBER)
    owner = browser(app, OWNER_IP)
    first = sign_in(owner, ann.email, RIGHT)
    assert first.status_code == 302
    cookie = next(c for c in first.headers.getlist("Set-Cookie") if c.startswith("cc_device="))
    assert "HttpOnly" in cookie and "Path=/sign-in" in cookie and "SameSite=Lax" in cookie
    assert f"Max-Age={60 * 24 * 3600}" in cookie
    assert post_form(owner, "/sign-out", {}, from_page="/").status_code == 302

    attacker = lock_out(app, ann.email)
    assert sign_in(owner, ann.email, RIGHT).status_code == 302
    # The lock still holds for everyone else, the guesser included.
    assert sign_in(attacker, ann.email, RIGHT).status_code == 429
    assert sign_in(browser(app, OWNER_IP), ann.email, RIGHT).status_code == 429


def test_a_device_cookie_is_for_its_own_person_only(app, make_person):
    ann, bola = make_person(Role.MEMBER), make_person(Role.MEMBER)
    shared = browser(app, OWNER_IP)
    assert sign_in(shared, ann.email, RIGHT).status_code == 302
    lock_out(app, bola.email)
    assert sign_in(shared, bola.email, RIGHT).status_code == 429
    # Bola signs in on the shared browser later: both are remembered.
    with freeze_time(utcnow() + timedelta(minutes=16)):
        assert sign_in(shared, bola.email, RIGHT).status_code == 302
        lock_out(app, ann.email)
        lock_out(app, bola.email)
        assert sign_in(shared, ann.email, RIGHT).status_code == 302
        assert sign_in(shared, bola.email, RIGHT).status_code == 302


def test_a_forged_or_altered_device_cookie_is_not_trusted(app, db, make_person):
    ann, bola = make_person(Role.MEMBER), make_person(Role.MEMBER)
    owner = browser(app, OWNER_IP)
    assert sign_in(owner, bola.email, RIGHT).status_code == 302
    genuine = owner.get_cookie("cc_device", path="/sign-in").value
    lock_out(app, ann.email)
    _, nonce, issued, binding, mac = genuine.split(".")
    with db.read() as s:
        ann_hash = s.get(Person, ann.id).password_hash
    forged = [
        f"{ann.id}.{nonce}.{issued}.{binding}.{mac}",  # another person's id, same MAC
        f"{ann.id}.{nonce}.{issued}.{binding}.{'0' * 32}",
        devices.issue(
            "not-the-secret-key",
            type("P", (), {"id": ann.id, "password_hash": ann_hash})(),
            utcnow(),
        ),
    ]
    for value in forged:
        thief = browser(app, ATTACKER_IP)
        thief.set_cookie("cc_device", value, path="/sign-in")
        assert sign_in(thief, ann.email, RIGHT).status_code == 429, value


def test_a_device_cookie_expires(app, make_person):
    ann = make_person(Role.MEMBER)
    owner = browser(app, OWNER_IP)
    start = utcnow()
    assert sign_in(owner, ann.email, RIGHT).status_code == 302
    token = owner.get_cookie("cc_device", path="/sign-in").value
    with freeze_time(start + devices.DEVICE_MAX_AGE - timedelta(minutes=20)):
        lock_out(app, ann.email)
        # Still valid: it signs in (and gets a fresh token, which this test throws away).
        assert sign_in(owner, ann.email, RIGHT).status_code == 302
    with freeze_time(start + devices.DEVICE_MAX_AGE + timedelta(minutes=1)):
        lock_out(app, ann.email)
        # A browser that kept the first token past its Max-Age: the token itself expired.
        kept = browser(app, OWNER_IP)
        kept.set_cookie("cc_device", token, path="/sign-in")
        assert sign_in(kept, ann.email, RIGHT).status_code == 429


def test_a_device_that_fails_too_often_is_locked_itself(app, db, make_person):
    ann = make_person(Role.MEMBER)
    owner = browser(app, OWNER_IP)
    assert sign_in(owner, ann.email, RIGHT).status_code == 302
    for _ in range(5):
        assert sign_in(owner, ann.email, WRONG).status_code == 401
    locked = sign_in(owner, ann.email, RIGHT)
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.get_data(as_text=True)
    # The device's failures were its own: the account is not locked for a new browser.
    assert sign_in(browser(app, "192.0.2.1"), ann.email, RIGHT).status_code == 302
    with db.read() as s:
        details = [
            json.loads(d) if isinstance(d, str) else d
            for (d,) in s.execute(
                text("SELECT details FROM audit_event WHERE action = 'auth.locked'")
            )
        ]
    assert details and details[-1]["device"] is True


def test_a_new_password_ends_every_devices_standing(app, db, make_person):
    ann = make_person(Role.MEMBER)
    owner = browser(app, OWNER_IP)
    assert sign_in(owner, ann.email, RIGHT).status_code == 302
    new_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("another password!")

    def change(s):
        s.get(Person, ann.id).password_hash = new_hash

    db.run(change)
    lock_out(app, ann.email)
    assert sign_in(owner, ann.email, "another password!").status_code == 429


# --- hashes upgraded at sign-in ------------------------------------------------------------


def _stored_hash(db, person_id):
    with db.read() as s:
        return s.get(Person, person_id).password_hash


def _set_hash(db, person_id, value):
    def change(s):
        s.get(Person, person_id).password_hash = value

    db.run(change)


def test_a_hash_made_with_old_parameters_is_upgraded_at_sign_in(client, db, make_person):
    ann = make_person(Role.MEMBER)
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=2).hash(RIGHT)
    _set_hash(db, ann.id, old)
    assert sign_in(client, ann.email, RIGHT).status_code == 302
    upgraded = _stored_hash(db, ann.id)
    assert upgraded != old and "m=8,t=1,p=1" in upgraded  # the test profile's parameters
    assert (
        sign_in(app_client := client.application.test_client(), ann.email, RIGHT).status_code == 302
    )
    assert _stored_hash(db, ann.id) == upgraded  # current parameters: left alone
    assert app_client is not client
    assert audit_actions(db, f"person:{ann.id}").count("auth.sign_in") == 2


def test_a_cheap_hash_is_upgraded_to_the_production_profile(settings_overrides, make_person, db):
    """With the production profile, a hash made with the cheap one (old demo data) becomes
    64 MiB / 3 passes at the next sign-in; a wrong password changes nothing."""
    svc = Services.build({**settings_overrides, "PASSWORD_HASH_PROFILE": "default"})
    try:
        app = create_app(services=svc)
        ann = make_person(Role.MEMBER)  # hashed with the cheap test profile
        cheap = _stored_hash(db, ann.id)
        assert sign_in(app.test_client(), ann.email, WRONG).status_code == 401
        assert _stored_hash(db, ann.id) == cheap
        assert sign_in(app.test_client(), ann.email, RIGHT).status_code == 302
        assert "$argon2id$v=19$m=65536,t=3,p=4$" in _stored_hash(db, ann.id)
    finally:
        svc.close()
