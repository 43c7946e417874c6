"""Pages in the reader's language (Flask-Babel over the catalogs of credits.i18n).

Which language a page is served in, first match wins:

1. a signed-in person's own choice (``person.language``, set by the switcher);
2. the ``cc_lang`` cookie (set by the switcher, for a year);
3. the browser's ``Accept-Language``, best quality first (``pt-BR`` is served ``pt``);
4. English.

Every page says which in ``<html lang="…">`` and the ``Content-Language`` header, and has the
switcher (``base.html``: a small form, no JavaScript): ``POST /language`` remembers the
choice in the cookie and, for a signed-in person, on their profile, so their emails follow
it too. The API is not translated: its problem+json stays English for the programs that
read it.

In templates: ``{{ _("Text") }}``, ``{% trans %}…{% endtrans %}`` (whitespace is trimmed),
``{% trans count=n %}…{% pluralize %}…{% endtrans %}``; in views ``gettext`` / ``ngettext``
from here, or a :class:`credits.i18n.Text` from a use case (it translates itself).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import flask_babel
from babel.support import NullTranslations
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    has_request_context,
    redirect,
    request,
    url_for,
)
from werkzeug.utils import cached_property

from credits import i18n
from credits.api.context import current_services
from credits.web.forms import Cut, PageForm, read_form

COOKIE = "cc_lang"
COOKIE_MAX_AGE = timedelta(days=365)

bp = Blueprint("i18n", __name__)
#: The language chosen, and the page to go back to.
LanguageForm = PageForm.from_dict(
    {"language": Cut(None, load_default=None), "next": Cut(None, load_default=None)},
    name="LanguageForm",
)

gettext = flask_babel.gettext
pgettext = flask_babel.pgettext


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The page language's form of the message for ``num``; ``%(num)s`` is ``num`` written
    as the language writes numbers."""
    variables.setdefault("num", i18n.format_number(num))
    text = flask_babel.get_translations().ungettext(singular, plural, num)
    return str(text % variables)


def page_language() -> str | None:
    """The language of the page being served (None outside a request)."""
    if not has_request_context():
        return None
    locale = flask_babel.get_locale()
    return str(locale) if locale is not None else None


def browser_language() -> str | None:
    """The first language in ``Accept-Language`` (by quality) that the scheme speaks."""
    for value, _quality in request.accept_languages:
        if value == "*":
            return i18n.DEFAULT
        found = i18n.normalise(value)
        if found:
            return found
    return None


def _select() -> str:
    if request.path.startswith("/api/"):
        return i18n.DEFAULT
    from credits.web.auth import current_principal

    who = current_principal()
    chosen = i18n.normalise(getattr(who, "language", None)) if who is not None else None
    return (
        chosen or i18n.normalise(request.cookies.get(COOKIE)) or browser_language() or i18n.DEFAULT
    )


class _Catalogs(flask_babel.Domain):
    """Flask-Babel reads our catalogs (compiled in memory from the .po files)."""

    def get_translations(self) -> NullTranslations:
        locale = flask_babel.get_locale()
        return i18n.translations(str(locale)) if locale is not None else NullTranslations()


class _Babel(flask_babel.Babel):
    @cached_property
    def domain_instance(self) -> flask_babel.Domain:
        return _Catalogs()


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/language", methods=["POST"])
def choose() -> Any:
    """Switch the pages' language: remembered in a cookie and, when signed in, on the
    person's profile (their emails follow it)."""
    from credits.accounts.people import set_language
    from credits.web.auth import current_principal

    form = read_form(LanguageForm)
    language = i18n.normalise(form["language"])
    if language is None:
        abort(400, description=i18n.T("Choose one of the languages offered."))
    who = current_principal()
    if who is not None and who.person_id is not None:
        person_id = who.person_id
        current_services().db.run(lambda s: set_language(s, person_id, language))
    response = redirect(_safe_next(form["next"]) or url_for("web.index"), code=303)
    response.set_cookie(
        COOKIE,
        language,
        max_age=int(COOKIE_MAX_AGE.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


def _language_headers(response: Response) -> Response:
    if request.path.startswith("/api/") or response.mimetype != "text/html":
        return response
    response.headers.setdefault("Content-Language", page_language() or i18n.DEFAULT)
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def switcher() -> list[dict[str, Any]]:
    """The languages for the switcher: code, own name, whether it is the page's."""
    here = page_language() or i18n.DEFAULT
    return [
        {"code": code, "name": name, "current": code == here}
        for code, name in i18n.LANGUAGES.items()
    ]


def init_i18n(app: Flask) -> None:
    """Flask-Babel, the language switcher and the template helpers."""
    _Babel(app, locale_selector=_select, default_locale=i18n.DEFAULT)
    # Template text is extracted with whitespace trimmed (credits/i18n_catalogs.py): so it is
    # looked up.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    i18n.set_language_provider(page_language)
    app.jinja_env.globals.update(
        page_language=lambda: page_language() or i18n.DEFAULT,
        languages=switcher,
        here=lambda: request.full_path.rstrip("?"),
    )
    app.after_request(_language_headers)
    app.register_blueprint(bp)
