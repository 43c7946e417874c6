"""Rate limits on sign-in, password-reset requests, registration and emailed links: per
account and per client address, stored in the database (so they hold across workers)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits import create_app, ratelimit
from credits.accounts import Role
from credits.db import utcnow
from credits.services import Services
from tests.problems import assert_problem

from .people_helpers import audit_actions
from .web_helpers import csrf_from, post_form, sign_in

WRONG = "not the password at all"


def attempt(client, login, password=WRONG, ip="198.51.100.7"):
    client.environ_base["REMOTE_ADDR"] = ip
    return sign_in(client, login, password)


def test_five_failures_lock_the_account_for_fifteen_minutes(client, make_person, db):
    ann = make_person(Role.MEMBER)
    for _ in range(5):
        assert attempt(client, ann.email).status_code == 401
    # Locked: even the right password is refused (guessing stops), with Retry-After.
    locked = attempt(client, ann.email, "correct horse battery")
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert "auth.locked" in audit_actions(db, f"person:{ann.id}")
    # From another address too: the limit is the account's.
    assert attempt(client, ann.email, "correct horse battery", ip="203.0.113.9").status_code == 429
    with freeze_time(utcnow() + timedelta(minutes=15, seconds=1)):
        assert attempt(client, ann.email, "correct horse battery").status_code == 302


def test_a_success_clears_the_account_failures(client, make_person):
    ann = make_person(Role.MEMBER)
    for _ in range(4):
        attempt(client, ann.email)
    assert attempt(client, ann.email, "correct horse battery").status_code == 302
    assert post_form(client, "/sign-out", {}, from_page="/").status_code == 302
    # The count starts again: five more failures are allowed, and the sixth is locked out.
    for _ in range(5):
        assert attempt(client, ann.email).status_code == 401
    assert attempt(client, ann.email).status_code == 429


def test_unknown_logins_are_limited_exactly_like_known_ones(client):
    for _ in range(5):
        assert attempt(client, "nobody@test.example").status_code == 401
    assert attempt(client, "nobody@test.example").status_code == 429


def test_twenty_failures_from_one_address_lock_that_address(client, make_person):
    for n in range(20):
        assert attempt(client, f"guess{n}@test.example", ip="192.0.2.50").status_code == 401
    ann = make_person(Role.MEMBER)
    assert attempt(client, ann.email, "correct horse battery", ip="192.0.2.50").status_code == 429
    assert attempt(client, ann.email, "correct horse battery", ip="192.0.2.51").status_code == 302


def test_limits_hold_across_two_app_instances_sharing_the_database(
    settings_overrides, test_database, make_person
):
    """Two processes (gunicorn workers, or two servers) share one count."""
    ann = make_person(Role.MEMBER)
    first = Services.build(settings_overrides)
    second = Services.build(settings_overrides)
    try:
        a, b = create_app(services=first).test_client(), create_app(services=second).test_client()
        codes = [attempt(c, ann.email).status_code for c in (a, b, a, b, a)]
        assert codes == [401] * 5
        assert attempt(b, ann.email, "correct horse battery").status_code == 429
        assert attempt(a, ann.email, "correct horse battery").status_code == 429
    finally:
        first.close()
        second.close()


def test_reset_requests_three_an_hour_per_address_same_for_unknown(client, make_person, mailbox):
    ann = make_person(Role.MEMBER)
    for email in (ann.email, "nobody@test.example"):
        for _ in range(3):
            assert post_form(client, "/password/forgot", {"email": email}).status_code == 200
        over = post_form(client, "/password/forgot", {"email": email})
        assert over.status_code == 429 and "Retry-After" in over.headers
        assert "Too many password reset requests" in over.get_data(as_text=True)
    assert len(mailbox.all(to=ann.email)) == 3  # no mail-bombing
    api = client.post("/api/v1/password-resets", json={"email": ann.email})
    body = assert_problem(api, 429, "rate_limited")
    assert int(api.headers["Retry-After"]) > 0 and body["retry_after"] > 0


def test_registrations_five_an_hour_per_client_address(client, mailbox):
    for n in range(5):
        body = {"name": f"R {n}", "email": f"r{n}@test.example", "password": "long enough pass"}
        assert client.post("/api/v1/registrations", json=body).status_code == 202
    body = {"name": "R 6", "email": "r6@test.example", "password": "long enough pass"}
    assert_problem(client.post("/api/v1/registrations", json=body), 429, "rate_limited")
    client.environ_base["REMOTE_ADDR"] = "203.0.113.20"
    assert client.post("/api/v1/registrations", json=body).status_code == 202


def test_link_attempts_are_limited_per_address(client):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.30"
    for _ in range(20):
        resp = client.get(
            "/password/reset?token=guess", headers={"Accept": "text/html"}, follow_redirects=True
        )
        assert resp.status_code == 404
    # The 21st look at any link from that address is refused before the token is checked.
    page = client.get("/sign-in")
    resp = client.post(
        "/register/confirm",
        data={"token": "guess", "csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert resp.status_code == 429


def test_x_forwarded_for_is_trusted_only_as_configured():
    assert ratelimit.client_ip("10.0.0.1", "1.2.3.4", 0) == "10.0.0.1"
    assert ratelimit.client_ip("10.0.0.1", "6.6.6.6, 1.2.3.4", 1) == "1.2.3.4"
    assert ratelimit.client_ip("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", 2) == "1.2.3.4"
    assert ratelimit.client_ip("10.0.0.1", "", 1) == "10.0.0.1"
    assert ratelimit.client_ip(None, None, 0) == "unknown"


def test_rows_stay_bounded_and_old_ones_are_swept(db):
    limit = ratelimit.Limit("test", 3, timedelta(minutes=1), "tests")
    for _ in range(3):
        db.run(lambda s: ratelimit.attempt(s, (limit, "k")))
    with pytest.raises(ratelimit.RateLimited):
        db.run(lambda s: ratelimit.attempt(s, (limit, "k")))
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT bucket FROM rate_limit_event")).scalars().all()
    # The bucket is the limit and a digest of the key: no address or email is stored.
    assert len(stored) == 3 and all(b.startswith("test:") and len(b) == 45 for b in stored)
    later = utcnow() + timedelta(days=2)
    assert db.run(lambda s: ratelimit.sweep(s, now=later)) == 3


@pytest.mark.postgres
def test_concurrent_guesses_cannot_slip_past_the_limit(services, make_person):
    """Fifty wrong passwords at once still get only five checks: the attempt is reserved
    under the bucket's lock before the password is checked."""
    from concurrent.futures import ThreadPoolExecutor

    from credits.accounts import signin

    ann = make_person(Role.MEMBER)

    def guess(_):
        return signin.sign_in(services.db, ann.email, WRONG, ip="192.0.2.99").error.code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(guess, range(50)))
    assert codes.count("sign_in_failed") == 5
    assert codes.count("rate_limited") == 45
