"""The volunteer pages as an installable web app, and a voucher that shows with no signal.

    /manifest.webmanifest   the web app manifest (name, icons, start page, colours)
    /service-worker.js      the service worker (static/service-worker.js), served from the
                            site's root so that its scope is the whole site
    /offline                what the worker shows for any page but a voucher when there is no
                            connection: it says so, and shows no balance or other figure

The worker (static/service-worker.js) is network-first for a member's voucher page
(/vouchers/<id>): online, the page always comes from the server (a voucher spent or cancelled
meanwhile shows as such); its copy is kept in a cache named after the signed-in session, so
that offline the last copy seen opens, with its QR code (inline SVG, part of the page) and the
line "Offline — shown as last seen at 10:42". Every other page is network-only.

A copy never outlives its session: every page tells the worker whose it is (the
``X-Credits-Offline-Key`` header, a one-way hash of the session token, on pages seen signed
in); the worker drops every other session's cache as soon as it sees a page of another
session, or of nobody. Signing out answers with ``Clear-Site-Data: "cache", "storage"``, and
the signed-out page's script (static/pwa.js) deletes the voucher caches too.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for

from credits.web.i18n import gettext, page_language

bp = Blueprint("pwa", __name__)

#: The response header that tells the service worker whose page it is (pwa.js and the
#: worker read nothing else to decide which cache a voucher page belongs to).
OFFLINE_KEY_HEADER = "X-Credits-Offline-Key"
#: The site's colour (static/site.css ``--brand``): the phone's title bar when installed.
THEME_COLOUR = "#00594c"


def offline_key(session_token: str) -> str:
    """A name for this session's offline cache: a one-way hash of its token (the token
    itself never leaves the HttpOnly cookie)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, ("offline|" + session_token).encode(), hashlib.sha256).hexdigest()[:32]


@bp.route("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest: installing the app opens the member's home page."""
    body = {
        "id": "/",
        "name": gettext("Cooperative Credits"),
        "short_name": gettext("Credits"),
        "description": gettext("Credits for community activity, spent in local shops."),
        "lang": page_language() or "en",
        "start_url": url_for("member.home"),
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": "#ffffff",
        "icons": [
            {
                "src": url_for("web.static", filename=f"icon-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any",
            }
            for size in (192, 512)
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/service-worker.js")
def service_worker() -> Response:
    """The worker's script, from the site's root (its scope is every page). ``no-cache``: the
    browser asks again each time it checks for a new version."""
    from credits.web import bp as web

    response = web.send_static_file("service-worker.js")
    response.mimetype = "text/javascript"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.route("/offline")
def offline() -> Any:
    """The page shown for any page but a voucher when there is no connection. The worker
    keeps a copy; it holds nothing personal (it is fetched when the worker installs)."""
    return render_template("pwa/offline.html")
