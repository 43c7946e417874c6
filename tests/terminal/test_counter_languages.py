"""The counter screen speaks the till's language: its browser's Accept-Language, or the one
chosen with its switcher (a cookie on the till). The words of every outcome follow it; the
command line and the JSON outcome keep English."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from shop_terminal import i18n
from shop_terminal.config import secret_key
from shop_terminal.messages import Context, credits, describe
from shop_terminal.terminal import Terminal
from shop_terminal.web import LANGUAGE_COOKIE, create_app
from tests.terminal.fake_ledger import FakeLedger

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def client(terminal: Terminal) -> Any:
    app = create_app(terminal, secret=secret_key(terminal.config.data_dir))
    app.config.update(TESTING=True)
    return app.test_client()


def page(client: Any, **headers: str) -> str:
    resp = client.get("/", base_url=BASE, headers=headers)
    assert resp.status_code == 200
    return str(resp.get_data(as_text=True))


def csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match
    return match.group(1)


def post(client: Any, path: str, data: dict[str, str], **headers: str) -> Any:
    return client.post(
        path,
        base_url=BASE,
        data=data,
        headers={"Origin": BASE, "Sec-Fetch-Site": "same-origin", **headers},
    )


@pytest.mark.parametrize(
    ("header", "lang", "words"),
    [
        ("pl-PL,pl;q=0.9", "pl", "Zeskanuj bon albo wpisz jego kod i naciśnij Enter"),
        ("pt-PT", "pt", "Leia o vale, ou escreva o código e carregue em Enter"),
        ("es", "es", "Escanee el vale, o escriba su código y pulse Intro"),
        ("fr-FR", "fr", "Scannez le bon, ou tapez son code et appuyez sur Entrée"),
        ("en-GB", "en", "Scan the voucher, or type its code and press Enter"),
    ],
)
def test_the_screen_follows_the_browsers_language(client: Any, header: str, lang: str, words: str):
    html = page(client, **{"Accept-Language": header})
    assert f'<html lang="{lang}">' in html and words in html


def test_a_refused_voucher_is_explained_in_polish(client: Any, fake_ledger: FakeLedger):
    html = page(client, **{"Accept-Language": "pl"})
    code = fake_ledger.issue(5)
    first = post(client, "/scan", {"code": code, "csrf": csrf(html), "form_id": "f1"})
    assert first.status_code == 303
    again = post(
        client,
        "/scan",
        {"code": code, "csrf": csrf(html), "form_id": "f2"},
        Accept="application/json",
        **{"Accept-Language": "pl"},
    ).get_json()
    assert again["tone"] == "no"
    assert "NIE" in again["result_html"]
    assert "Ten bon został już tu wykorzystany" in again["result_html"]
    assert "Bon można wykorzystać tylko raz." in again["result_html"]
    # The machine-readable outcome keeps its English words, like the command line.
    assert again["outcome"]["message"].startswith("This voucher was already used here")


def test_the_switcher_sets_the_tills_language(client: Any):
    html = page(client, **{"Accept-Language": "en"})
    resp = post(client, "/language", {"language": "es", "csrf": csrf(html)})
    assert resp.status_code == 303
    cookie = client.get_cookie(LANGUAGE_COOKIE, domain="127.0.0.1")
    assert cookie is not None and cookie.value == "es"
    assert '<html lang="es">' in page(client, **{"Accept-Language": "en"})
    bad = post(client, "/language", {"language": "zz", "csrf": csrf(html)})
    assert bad.status_code == 400
    # Like every form of the screen, it needs the token.
    assert post(client, "/language", {"language": "pl"}).status_code == 403


def test_the_scripts_words_are_handed_over_translated(client: Any):
    html = page(client, **{"Accept-Language": "fr"})
    assert 'data-take-all="Prendre tout le bon"' in html
    assert 'data-camera-failed="Impossible de démarrer la caméra.' in html


@pytest.mark.parametrize(
    ("n", "polish"), [(1, "1 kredyt"), (3, "3 kredyty"), (5, "5 kredytów"), (21, "21 kredytów")]
)
def test_credits_in_polish(n: int, polish: str):
    assert credits(n, i18n.Words("pl")).replace("\u00a0", " ") == polish
    assert credits(n) == ("1 credit" if n == 1 else f"{n} credits")


def test_every_outcome_has_words_in_every_language(terminal: Terminal):
    """Each reason the screen can show is translated (no English left in Polish)."""
    from types import SimpleNamespace

    reasons = {
        "refused": [
            "malformed_code",
            "invalid_signature",
            "unknown_key",
            "expired",
            "already_redeemed",
            "voucher_cancelled",
            "amount_exceeds_voucher",
            "not_found",
            "offline_limit_exceeded",
            "other",
        ],
        "declined": [
            "no_trust_list",
            "terminal_not_authorised",
            "awaiting_answer",
            "offline_never_connected",
            "offline_list_stale",
            "offline_queue_too_old",
            "offline_floor_limit",
            "offline_count_cap",
            "offline_total_cap",
        ],
    }
    english = Context(
        tz=terminal.config.tz, limits={"floor_limit": 5, "max_count": 3, "max_total": 40}
    )
    polish = Context(tz=english.tz, limits=english.limits, words=i18n.Words("pl"))
    # Refused after being accepted offline (the council does not pay for it): its own words.
    taken = datetime(2027, 1, 15, 10, 31, tzinfo=UTC)
    accepted_offline = [("refused", r, taken) for r in ("already_redeemed", "voucher_cancelled")]
    cases = [(state, r, None) for state, codes in reasons.items() for r in codes]
    for state, reason, offline_at in cases + accepted_offline:
        scan = SimpleNamespace(
            state=state,
            reason=reason,
            reference="ABCD-EFGH",
            amount=8,
            face_value=5,
            expires_at=1_800_000_000,
            offline_accepted_at=offline_at,
            other_redeemed_at=None,
            other_shop_id=None,
            other_shop_name=None,
            detail=None,
        )
        en, pl = describe(scan, english), describe(scan, polish)
        assert en.title != pl.title, (state, reason)
        assert all(a != b for a, b in zip(en.lines, pl.lines, strict=True)), (state, reason)
