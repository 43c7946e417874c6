"""The counter screen refuses cross-site requests: Host (DNS rebinding), Origin/Referer,
Sec-Fetch-Site and the CSRF token are each checked. Each case changes one thing from a
request that works, so each check is shown to be needed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shop_terminal.config import secret_key
from shop_terminal.terminal import Terminal
from shop_terminal.web import CSRF_COOKIE, create_app
from tests.terminal.fake_ledger import FakeLedger

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def client(terminal: Terminal) -> Any:
    app = create_app(terminal, secret=secret_key(terminal.config.data_dir))
    app.config.update(TESTING=True)
    return app.test_client()


def token(client: Any) -> str:
    page = client.get("/", base_url=BASE)
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.get_data(as_text=True))
    assert match and client.get_cookie(CSRF_COOKIE, domain="127.0.0.1")
    return match.group(1)


def post(client: Any, csrf: str, code: str, **headers: str) -> Any:
    headers = {"Origin": BASE, "Sec-Fetch-Site": "same-origin", **headers}
    headers = {k: v for k, v in headers.items() if v != "-"}
    return client.post(
        "/scan",
        base_url=BASE,
        headers=headers,
        data={"code": code, "csrf": csrf, "form_id": "f-" + code[-8:]},
    )


def test_a_same_origin_post_with_the_token_works(client: Any, fake_ledger: FakeLedger):
    answer = post(client, token(client), fake_ledger.issue(5))
    assert answer.status_code == 303 and "/?scan=" in answer.headers["Location"]
    assert len(fake_ledger.redemptions) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Origin": "-", "Referer": "http://evil.example/page"},
        {"Origin": "-"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_site_posts_are_refused(client: Any, fake_ledger: FakeLedger, change: dict[str, str]):
    answer = post(client, token(client), fake_ledger.issue(5), **change)
    assert answer.status_code == 403
    assert "did not come from the counter screen" in answer.get_data(as_text=True)
    assert fake_ledger.redemptions == []


def test_the_csrf_token_is_checked(client: Any, fake_ledger: FakeLedger):
    good = token(client)
    for bad in ("", "0" * 64, good[:-1] + ("0" if good[-1] != "0" else "1")):
        assert post(client, bad, fake_ledger.issue(5)).status_code == 403
    client.delete_cookie(CSRF_COOKIE, domain="127.0.0.1")
    assert post(client, good, fake_ledger.issue(5)).status_code == 403
    assert fake_ledger.redemptions == []


def test_foreign_host_names_are_refused(client: Any):
    # A DNS-rebinding page reaches 127.0.0.1 under its own name: refused, even for GET.
    assert client.get("/", base_url="http://evil.example:8765").status_code == 400
    assert client.get("/", base_url="http://localhost:8765").status_code == 200
    assert client.get("/", base_url="http://[::1]:8765").status_code == 200
    assert client.get("/", base_url="http://192.168.1.20:8765").status_code == 200


def test_json_answer_for_the_page_script(client: Any, fake_ledger: FakeLedger):
    answer = post(client, token(client), fake_ledger.issue(5), Accept="application/json")
    data = answer.get_json()
    assert answer.status_code == 200 and data["tone"] == "yes"
    assert data["outcome"]["outcome"] == "redeemed" and 'data-tone="yes"' in data["result_html"]
    assert data["form_id"]


def test_headers_and_bad_input(client: Any):
    page = client.get("/", base_url=BASE)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    csrf = token(client)
    empty = post(client, csrf, "")
    assert empty.status_code == 400 and "Scan a voucher" in empty.get_data(as_text=True)
    answer = client.post(
        "/scan",
        base_url=BASE,
        headers={"Origin": BASE},
        data={"code": "CC1:X", "csrf": csrf, "amount": "1.5"},
    )
    assert answer.status_code == 400 and "whole number" in answer.get_data(as_text=True)
    assert client.get("/?scan=nope", base_url=BASE).status_code == 404


def test_an_oversized_picture_is_refused(counter: Any):
    import httpx

    with httpx.Client(base_url=counter.url, timeout=30) as http:
        page = http.get("/")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
        big = http.post(
            "/scan-image",
            headers={"Origin": counter.url},
            data={"csrf": csrf},
            files={"picture": ("big.png", b"x" * (17 << 20))},
        )
    assert big.status_code == 413
