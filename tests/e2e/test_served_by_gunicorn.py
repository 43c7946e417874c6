"""The app as production serves it — ``gunicorn -c deploy/gunicorn.conf.py credits.wsgi:app``
— with its access log and the app's own log captured to a file:

- every flow that handles a secret (signing in, API tokens, a password reset, an email
  confirmation, an invitation, a voucher code posted to /redemptions, a token misplaced in a
  query string, a link in a Referer header) runs, and no password, API token, link token,
  session cookie or voucher code appears anywhere in the log;
- requests gunicorn refuses itself (an address over its limit, too many or too large
  headers, not HTTP at all) are answered as problem+json with a code, like every other error.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from werkzeug.wrappers import Response

from credits.accounts import Role
from tests.conftest import ROOT, free_port
from tests.problems import assert_problem

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class Gunicorn:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path

    def stop(self) -> str:
        """Stop the server (its workers flush their logs) and return the whole log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def gunicorn(services: Any, cli_env: dict[str, str], tmp_path: Path) -> Iterator[Gunicorn]:
    """deploy/gunicorn.conf.py on a free port, one worker, on this test's database."""
    port = free_port()
    env = {**cli_env, "CREDITS_BIND": f"127.0.0.1:{port}", "CREDITS_WORKERS": "1"}
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "credits.wsgi:app"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    server = Gunicorn(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(server.url + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start: " + server.stop()[-2000:])
        time.sleep(0.1)
    yield server
    server.stop()


def csrf(resp: httpx.Response) -> str:
    match = CSRF.search(resp.text)
    assert match, resp.text[:500]
    return match.group(1)


def token_of(link: str) -> str:
    return link.split("token=")[1]


def open_link(web: httpx.Client, link: str, referer: str | None = None) -> httpx.Response:
    """What a browser does with an emailed link: the page moves the token out of the URL."""
    path = link[link.index("/", len("http://")) :]
    first = web.get(path)
    assert first.status_code == 303 and "token" not in first.headers["location"]
    page = web.get(first.headers["location"])
    assert page.status_code == 200, page.text[:500]
    # The page's stylesheet, fetched with the link in the Referer (an older browser history).
    web.get("/static/site.css", headers={"Referer": referer or link})
    return page


def test_no_secret_reaches_the_logs(gunicorn, make_person, mailbox):
    secrets: dict[str, str] = {}
    officer = make_person(Role.OFFICER)
    ann = make_person(Role.MEMBER, credits=50)
    secrets |= {"officer token": officer.token, "member token": ann.token, "password": PASSWORD}
    api = httpx.Client(base_url=gunicorn.url, timeout=10)
    web = httpx.Client(base_url=gunicorn.url, timeout=10)

    # Signing in on the pages (a wrong password first), then an API token made on a page.
    wrong = "this is not Ann's password"
    secrets["wrong password"] = wrong
    for password in (wrong, PASSWORD):
        form = web.get("/sign-in")
        web.post(
            "/sign-in",
            data={"login": ann.email, "password": password, "csrf_token": csrf(form)},
        )
    secrets["session cookie"] = web.cookies["cc_session"]
    page = web.get("/account/tokens")
    made = web.post(
        "/account/tokens", data={"name": "laptop", "role": "member", "csrf_token": csrf(page)}
    )
    secrets["token made on a page"] = re.search(r"cc_[A-Za-z0-9_-]{20,}", made.text).group(0)

    # API tokens: made through the API, used, and one misplaced in a query string.
    made = api.post("/api/v1/me/tokens", json={"name": "phone"}, headers=ann.auth)
    assert made.status_code == 201
    secrets["token made by the API"] = phone = made.json()["token"]
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {phone}"}).status_code == 200
    api.get(f"/api/v1/me?access_token={phone}&page=2")

    # A voucher code posted to /redemptions by a terminal.
    shop = api.post("/api/v1/shops", json={"name": "Log Shop"}, headers=officer.auth).json()
    till = api.post(
        f"/api/v1/shops/{shop['id']}/terminals", json={"name": "Till"}, headers=officer.auth
    ).json()
    secrets["terminal token"] = till["token"]
    voucher = api.post(
        "/api/v1/vouchers", json={"amount": 5, "idempotency_key": "log-1"}, headers=ann.auth
    ).json()
    secrets["voucher code"] = voucher["code"]
    redeemed = api.post(
        "/api/v1/redemptions",
        json={"code": voucher["code"], "idempotency_key": "r-1"},
        headers={"Authorization": f"Bearer {till['token']}"},
    )
    assert redeemed.status_code == 201, redeemed.text

    # A password reset: the emailed link, opened in a browser, and a new password.
    assert api.post("/api/v1/password-resets", json={"email": ann.email}).status_code == 202
    link = mailbox.last(to=ann.email, kind="password_reset").link()
    secrets["reset link token"] = token_of(link)
    reset = httpx.Client(base_url=gunicorn.url, timeout=10)
    page = open_link(reset, link)
    secrets["new password"] = new = "a new password for the logs test"
    done = reset.post(
        "/password/reset",
        data={
            "token": token_of(link),
            "password": new,
            "password_again": new,
            "csrf_token": csrf(page),
        },
    )
    assert done.status_code == 302, done.text[:500]

    # A registration and its confirmation link.
    rae = "rae@test.example"
    secrets["registration password"] = "rae's registration password"
    body = {"name": "Rae Resident", "email": rae, "password": secrets["registration password"]}
    assert api.post("/api/v1/registrations", json=body).status_code == 202
    link = mailbox.last(to=rae, kind="registration_confirm").link()
    secrets["confirmation link token"] = token_of(link)
    confirm = httpx.Client(base_url=gunicorn.url, timeout=10)
    page = open_link(confirm, link)
    done = confirm.post(
        "/register/confirm", data={"token": token_of(link), "csrf_token": csrf(page)}
    )
    assert done.status_code == 200, done.text[:500]

    # An invitation, accepted with a password.
    bea = "bea@test.example"
    invited = api.post(
        "/api/v1/invitations",
        json={"name": "Bea Volunteer", "email": bea, "roles": ["member"]},
        headers=officer.auth,
    )
    assert invited.status_code == 201
    link = mailbox.last(to=bea, kind="invitation").link()
    secrets["invitation link token"] = token_of(link)
    secrets["invitation password"] = "bea's brand new password"
    accept = httpx.Client(base_url=gunicorn.url, timeout=10)
    page = open_link(accept, link)
    done = accept.post(
        "/invitation",
        data={
            "token": token_of(link),
            "password": secrets["invitation password"],
            "password_again": secrets["invitation password"],
            "csrf_token": csrf(page),
        },
    )
    assert done.status_code == 302, done.text[:500]

    log = gunicorn.stop()
    for what, secret in secrets.items():
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            assert form not in log, f"the {what} is in the log"
    # The log is there, and says what happened without the secrets.
    assert '"GET /password/reset?token=REDACTED HTTP/1.1" 303' in log
    assert '"GET /api/v1/me?access_token=REDACTED&page=2 HTTP/1.1" 401' in log
    assert 'POST /api/v1/redemptions HTTP/1.1" 201' in log
    assert "/invitation?token=REDACTED" in log  # the Referer of the stylesheet
    assert log.count('"POST /sign-in HTTP/1.1"') == 2


# --- what gunicorn refuses itself ----------------------------------------------------------


def raw_request(url: str, data: bytes) -> Response:
    """Send bytes as they are; the answer's status, Content-Type and body as a response
    (so :func:`tests.problems.assert_problem` reads it like any other)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    content_type = next(
        (h.split(":", 1)[1].strip() for h in lines if h.lower().startswith("content-type:")), ""
    )
    return Response(body, status=int(lines[0].split()[1]), content_type=content_type)


def test_requests_gunicorn_refuses_are_problem_json(gunicorn):
    long_path = "/api/v1/people/" + "9" * 5000
    assert_problem(
        raw_request(gunicorn.url, f"GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
        414,
        "uri_too_long",
    )
    many = "".join(f"X-Header-{n}: {n}\r\n" for n in range(101))
    assert_problem(
        raw_request(gunicorn.url, f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode()),
        431,
        "header_fields_too_large",
    )
    huge = "X-Big: " + "b" * 9000 + "\r\n"
    assert_problem(
        raw_request(gunicorn.url, f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n{huge}\r\n".encode()),
        431,
        "header_fields_too_large",
    )
    assert_problem(
        raw_request(gunicorn.url, b"NOT HTTP AT ALL?token=s3cret\r\n\r\n"),
        400,
        "bad_request",
    )
    # Within gunicorn's limit, the app answers: 404 for the address, 413 for a large body.
    resp = httpx.get(gunicorn.url + "/api/v1/people/" + "9" * 3000)
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    resp = httpx.post(
        gunicorn.url + "/api/v1/password-resets",
        content=b'{"email": "' + b"x" * 70_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413 and resp.json()["code"] == "payload_too_large"
    log = gunicorn.stop()
    assert "s3cret" not in log  # a malformed request line is not logged as it came
    assert "uri_too_long (414)" in log
