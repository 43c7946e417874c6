"""The counter screen: a Flask app served on the till (``shop-terminal serve``).

This module assembles the app — its guards, headers and error pages; the views are the
Blueprint in shop_terminal/views.py, over the terminal's public API.

Works without JavaScript — the scan form is a plain POST answered with a redirect to the
result (so a reload never scans again) — and, with JavaScript, submits in the background
and swaps in the result, keeps the scan box focused for a USB/Bluetooth scanner, offers the
camera where the browser has ``BarcodeDetector``, and polls the connection state.

The screen speaks the till browser's language (``Accept-Language``), or the one chosen with
its switcher (``POST /language``, remembered in a cookie on the till): shop_terminal/i18n.py.

Cross-site protection (it listens on localhost, but any page open in the same browser could
post to it):

- every request's ``Host`` must be ``localhost`` or an IP address (a DNS-rebinding attacker's
  name is refused);
- a POST must carry ``Origin`` (or ``Referer``) of this very host, must not be
  ``Sec-Fetch-Site: cross-site``/``same-site``, and must carry the CSRF token: an HMAC of a
  random ``SameSite=Strict`` cookie under the terminal's secret key.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from shop_terminal import i18n
from shop_terminal.i18n import Words
from shop_terminal.terminal import Terminal
from shop_terminal.views import CSRF_COOKIE, LANGUAGE_COOKIE, Counter, bp, counter, words

MAX_UPLOAD_BYTES = 16 * 1024 * 1024


def _host_allowed(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def create_app(terminal: Terminal, *, secret: bytes) -> Flask:
    """The counter screen for ``terminal``; ``secret`` keys the CSRF tokens."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES, TEMPLATES_AUTO_RELOAD=False)
    app.extensions["shop_terminal"] = Counter(terminal, secret)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    # Templates are extracted with whitespace trimmed (credits/i18n_catalogs.py).
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message: words().gettext(message),
        ngettext=lambda singular, plural, n: i18n.translations(words().language).ngettext(
            singular, plural, n
        ),
        newstyle=True,
    )
    app.before_request(_guard)
    app.after_request(_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_blueprint(bp)
    return app


def _guard() -> None:
    """Refuse a foreign ``Host``, and a POST from elsewhere or without its CSRF token."""
    w = words()
    if not _host_allowed(request.host):
        abort(
            400,
            w.gettext(
                "This address is not allowed: open the counter screen at "
                "http://127.0.0.1 or http://localhost."
            ),
        )
    if request.method not in ("GET", "HEAD"):
        own = f"{request.scheme}://{request.host}"
        origin = request.headers.get("Origin")
        if origin is None and request.referrer:
            parts = urlsplit(request.referrer)
            origin = f"{parts.scheme}://{parts.netloc}"
        elsewhere = w.gettext("This request did not come from the counter screen.")
        if origin != own:
            abort(403, elsewhere)
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            abort(403, elsewhere)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = request.form.get("csrf", "")
        if not cookie or not hmac.compare_digest(sent, counter().csrf_for(cookie)):
            abort(
                403,
                w.gettext("The page was out of date: it has been reloaded, please scan again."),
            )


def _headers(response: Any) -> Any:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Language", words().language)
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def _http_error(exc: HTTPException) -> Any:
    wants_json = "application/json" in request.headers.get("Accept", "")
    if wants_json:
        return jsonify(error=exc.description, status=exc.code), exc.code
    description = exc.description
    if description == type(exc).description:
        # Werkzeug's own English sentence: say it in the screen's language instead.
        description = _standard_error(exc.code, words())
    return render_template(
        "error.html", error=exc, description=description, language=words().language
    ), exc.code


def _standard_error(status: int | None, w: Words) -> str:
    if status == 404:
        return w.gettext("There is nothing at this address.")
    if status == 405:
        return w.gettext("This address does not take that kind of request.")
    if status == 413:
        return w.gettext("That file is too large to send (at most 16 MB).")
    return w.gettext("The counter screen could not do that. Go back and try again.")


__all__ = ["CSRF_COOKIE", "LANGUAGE_COOKIE", "MAX_UPLOAD_BYTES", "create_app", "words"]
