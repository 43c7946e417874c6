"""Pages, emails and errors in the reader's language.

The page's language: a signed-in person's own choice, else the ``cc_lang`` cookie (the
switcher), else the browser's Accept-Language, else English; ``<html lang>`` and
``Content-Language`` say which. The API is not translated.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from credits.accounts import Role
from tests.integration.web_helpers import csrf_from, post_form, sign_in

PL = {"Accept-Language": "pl-PL,pl;q=0.9,en-GB;q=0.8"}


def lang_of(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "no <html lang>"
    return match.group(1)


@pytest.mark.parametrize(
    ("header", "lang", "words"),
    [
        ("pt-PT,pt;q=0.9", "pt", "Créditos por atividades comunitárias"),
        ("pt-BR", "pt", "Créditos por atividades comunitárias"),
        ("es-ES,es;q=0.9,en;q=0.5", "es", "Créditos por actividades comunitarias"),
        ("es-419", "es", "Créditos por actividades comunitarias"),
        ("pl-PL,pl;q=0.9,en-GB;q=0.8", "pl", "Kredyty za działania na rzecz społeczności"),
        ("fr-CA,en;q=0.5", "fr", "Des crédits pour vos actions dans le quartier"),
        ("de-DE,de;q=0.9", "en", "Credits for community activity"),
        ("", "en", "Credits for community activity"),
    ],
)
def test_the_front_page_follows_accept_language(client, header, lang, words):
    resp = client.get("/", headers={"Accept-Language": header} if header else {})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert lang_of(html) == lang and resp.headers["Content-Language"] == lang
    assert words in html
    assert "Accept-Language" in resp.headers["Vary"]


def test_a_member_reads_their_pages_in_polish(client, make_person):
    ann = make_person(Role.MEMBER, credits=25, name="Ann Okafor")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = PL["Accept-Language"]
    sign_in(client, ann.email)
    pages = {
        "/me": ["Twoje saldo", '25</span> <span class="balance-unit">kredytów', "Cześć, Ann"],
        "/vouchers": ["Twoje bony", "kredytów do wydania"],
        "/vouchers/new": ["Wydaj kredyty", "Masz do wydania: <strong>25 kredytów</strong>"],
        "/me/history": ["Twoja historia"],
        "/me/claim": ["Zgłoś sesję"],
        "/account": ["Twoje konto", "Polski"],
    }
    for path, words in pages.items():
        html = client.get(path).get_data(as_text=True)
        assert lang_of(html) == "pl", path
        for word in words:
            assert word in html, (path, word)


def test_the_switcher_remembers_the_choice_in_a_cookie(client):
    page = client.get("/", headers=PL)
    assert lang_of(page.get_data(as_text=True)) == "pl"
    resp = client.post(
        "/language",
        data={
            "language": "es",
            "next": "/sign-in",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
        headers=PL,
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/sign-in")
    cookie = client.get_cookie("cc_lang")
    assert cookie is not None and cookie.value == "es" and cookie.http_only
    # The choice wins over the browser's Accept-Language from now on.
    html = client.get("/sign-in", headers=PL).get_data(as_text=True)
    assert lang_of(html) == "es" and "Dirección de correo o número de móvil" in html


def test_the_switcher_refuses_what_it_does_not_offer_and_foreign_redirects(client):
    page = client.get("/").get_data(as_text=True)
    bad = client.post("/language", data={"language": "xx", "csrf_token": csrf_from(page)})
    assert bad.status_code == 400 and client.get_cookie("cc_lang") is None
    away = client.post(
        "/language",
        data={"language": "pt", "next": "https://evil.example/", "csrf_token": csrf_from(page)},
    )
    assert away.status_code == 303 and away.headers["Location"] == "/"
    # Unlike every other form, an anonymous visitor's switch needs no CSRF token: it sets
    # only their own cookie, and the public record's shared cached page carries no token.
    # Signed in, it changes a profile and is checked (test_a_signed_in_... below, open/).
    assert client.post("/language", data={"language": "pl"}).status_code == 303
    assert client.get_cookie("cc_lang").value == "pl"


def test_a_signed_in_switch_needs_the_pages_token(client, make_person):
    bola = make_person(Role.MEMBER, name="Bola Adeyemi")
    sign_in(client, bola.email)
    assert client.post("/language", data={"language": "pl"}).status_code == 403
    assert client.get_cookie("cc_lang") is None


def test_a_signed_in_persons_choice_follows_them_to_any_device(app, client, make_person, db):
    bola = make_person(Role.MEMBER, name="Bola Adeyemi")
    sign_in(client, bola.email)
    post_form(client, "/language", {"language": "pt", "next": "/me"}, from_page="/me")
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT language FROM person WHERE id = :i"), {"i": bola.id}
        ).scalar_one()
    assert stored == "pt"
    # Another device: no cookie, a Polish browser; once signed in, their own choice.
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = PL["Accept-Language"]
    assert lang_of(other.get("/sign-in").get_data(as_text=True)) == "pl"
    sign_in(other, bola.email)
    assert lang_of(other.get("/me").get_data(as_text=True)) == "pt"


def test_signing_in_records_the_language_used_until_one_is_chosen(client, make_person, db):
    cara = make_person(Role.MEMBER, name="Cara")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "es"
    sign_in(client, cara.email)
    with db.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT language FROM person WHERE id = :i"), {"i": cara.id}
            ).scalar_one()
            == "es"
        )


def test_registering_in_polish_gets_the_email_in_polish(client, mailbox, db):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = PL["Accept-Language"]
    resp = post_form(
        client,
        "/register",
        {
            "name": "Zofia Nowak",
            "email": "zofia@test.example",
            "phone": "",
            "password": "a long enough password",
        },
    )
    assert resp.status_code == 302
    mail = mailbox.last(to="zofia@test.example", kind="registration_confirm")
    assert mail.subject == "Potwierdź swój adres e-mail"
    assert mail.body.startswith("Dzień dobry, Zofia Nowak,")
    assert mail.raw["Content-Language"] == "pl"
    # The link's expiry is written the Polish way.
    assert re.search(r"wygasa: \w+, \d+ \w+ 20\d\d", mail.body)


def test_an_invitation_goes_out_in_the_language_the_officer_chose(client, make_person, mailbox):
    olu = make_person(Role.OFFICER, name="Olu Officer")
    sign_in(client, olu.email)
    resp = post_form(
        client,
        "/officer/invitations/new",
        {
            "name": "Lucía García",
            "email": "lucia@test.example",
            "phone": "",
            "roles": "member",
            "scope_ref": "",
            "language": "es",
        },
    )
    assert resp.status_code == 302
    mail = mailbox.last(to="lucia@test.example", kind="invitation")
    assert mail.subject == "Le invitamos a unirse a Cooperative Credits"
    assert "como voluntario" in mail.body
    # The officer's own pages stay in English.
    assert lang_of(client.get("/officer").get_data(as_text=True)) == "en"


def test_the_api_stays_english_whatever_the_browser_asks(client, make_person):
    ann = make_person(Role.MEMBER, credits=5)
    resp = client.post(
        "/api/v1/vouchers",
        json={"amount": 50, "idempotency_key": "k1"},
        headers={**ann.auth, **PL},
    )
    body = resp.get_json()
    assert resp.status_code == 409 and body["code"] == "insufficient_funds"
    assert body["title"] == "Not enough credits"
    assert body["detail"].startswith("you have 5 credits available")
    assert "Content-Language" not in resp.headers


def test_refusals_on_pages_are_in_the_pages_language(client, make_person):
    ann = make_person(Role.MEMBER, credits=5)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "es"
    sign_in(client, ann.email)
    resp = post_form(client, "/vouchers/new", {"amount": "50", "idempotency_key": "k2"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert "No tiene suficientes créditos para eso. Tiene 5 créditos disponibles" in html
    bad = post_form(client, "/vouchers/new", {"amount": "lots", "idempotency_key": "k3"})
    assert "Escriba un número entero de créditos, como 10." in bad.get_data(as_text=True)


def test_error_pages_speak_the_browsers_language(client):
    resp = client.get("/no/such/page", headers={**PL, "Accept": "text/html"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404 and lang_of(html) == "pl"
    assert "Nie znaleziono" in html and "Pod tym adresem nic nie ma." in html
    api = client.get("/api/v1/no/such", headers=PL).get_json()
    assert api["title"] == "Not found"


def test_flash_messages_are_in_the_language_of_the_page_that_set_them(client, make_person):
    ann = make_person(Role.MEMBER)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    sign_in(client, ann.email)
    out = post_form(client, "/sign-out", {}, from_page="/me")
    assert out.status_code == 302
    assert "Vous êtes déconnecté." in client.get("/").get_data(as_text=True)
