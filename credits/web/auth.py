"""Signing in to the pages, CSRF protection, and the guard every page uses.

- Every response carries a strict Content-Security-Policy (:data:`PAGE_CSP`; the API's
  :data:`API_CSP`), and, when ``CREDITS_SECURE_COOKIES`` is on (served over HTTPS),
  Strict-Transport-Security.
- The session cookie ``cc_session`` is HttpOnly, SameSite=Lax, and Secure when
  ``CREDITS_SECURE_COOKIES`` is on (it must be behind HTTPS). It holds a random token whose
  SHA-256 is a row in ``web_session`` (credits/accounts/sessions.py).
- Every form carries ``csrf_token()``: an HMAC of the session token (or, before sign-in, of a
  random ``cc_csrf`` cookie) under the app's secret key. Every POST to a page is refused
  (403) without the right one. The API does not read cookies at all, so it needs none.
- ``@page_requires(Role.MEMBER, ...)`` on a view: not signed in → redirected to the sign-in
  page (and back afterwards); signed in with another role → 403 page.
- ``current_principal()`` is the signed-in person in their active role, or None.
- A successful sign-in also sets ``cc_device`` (path /sign-in only, HttpOnly, 60 days): the
  device cookie that keeps this browser able to sign in while the account is locked by
  someone else's guesses (credits/accounts/devices.py).
- Signing out answers with ``Clear-Site-Data: "cache", "storage"``: no copy of a voucher page
  stays in the browser's or the service worker's cache (credits/web/pwa.py).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from credits import i18n
from credits.accounts import Principal, Role, devices, signin
from credits.accounts import sessions as web_sessions
from credits.accounts.people import remember_language
from credits.api.context import current_services
from credits.api.inputs import refuse_control_characters
from credits.api.problems import status_of
from credits.api.requestinfo import client_ip
from credits.errors import CreditsError
from credits.i18n import T
from credits.web.forms import Cut, PageForm, read_form
from credits.web.i18n import gettext, page_language
from credits.web.pwa import OFFLINE_KEY_HEADER, offline_key

SESSION_COOKIE = "cc_session"
CSRF_COOKIE = "cc_csrf"
#: Signed tokens of people who signed in on this browser before (credits/accounts/devices.py).
DEVICE_COOKIE = "cc_device"
#: Pages load scripts, styles, images and fonts from this site only; no inline script or
#: style attribute runs (the pages have none: behaviour is in static/*.js), nothing may frame
#: them, and forms post only here. ``data:`` images are QR codes.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: API answers are data, never documents to render (a QR code's SVG included).
API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
#: Two years, every subdomain of the site's own host (only when served over HTTPS).
HSTS = "max-age=63072000; includeSubDomains"
F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__)
SignInForm = PageForm.from_dict({"login": Cut(254), "password": Cut(200)}, name="SignInForm")
#: Another role the signed-in person holds, to act in.
RoleForm = PageForm.from_dict({"role": Cut(None)}, name="RoleForm")

#: Where each role lands after signing in: an endpoint name. A capability that adds a home
#: page for a role sets it here; until then the front page is used.
ROLE_HOME: dict[Role, str] = {
    Role.OFFICER: "officer.home",
    Role.ADMIN: "officer.home",
    Role.MEMBER: "member.home",
    Role.COORDINATOR: "coordinator.home",
    Role.SHOP_STAFF: "remittances.index_for_shop",
}


# --- the signed-in person ----------------------------------------------------------------


def _session_token() -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def current_principal() -> Principal | None:
    """The signed-in person (cached for the request), or None."""
    if "web_principal" not in g:
        token = _session_token()
        found = None
        if token:
            resolved = current_services().db.run(lambda s: web_sessions.resolve_session(s, token))
            if resolved is not None:
                found, row = resolved
                g.web_session_id = row.id
        g.web_principal = found
    principal: Principal | None = g.web_principal
    return principal


def me() -> Principal:
    """The signed-in person of a page guarded by ``page_requires``."""
    who = current_principal()
    assert who is not None and who.person_id is not None
    return who


def page_requires(*roles: Role) -> Callable[[F], F]:
    """Allow a page only to someone signed in with one of ``roles``."""
    allowed = frozenset(roles)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = current_principal()
            if who is None:
                flash(gettext("Please sign in to continue."), "info")
                return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
            if who.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def home_url(principal: Principal | None) -> str:
    """Where a signed-in person belongs."""
    if principal is not None:
        endpoint = ROLE_HOME.get(principal.role)
        if endpoint and endpoint in current_app.view_functions:
            return url_for(endpoint)
    return url_for("web.index")


# --- CSRF --------------------------------------------------------------------------------


def _csrf_binding() -> str:
    token = _session_token()
    if token:
        return "s:" + token
    anon = request.cookies.get(CSRF_COOKIE) or g.get("new_csrf_cookie")
    if not anon:
        anon = secrets.token_urlsafe(24)
        g.new_csrf_cookie = anon
    return "a:" + anon


def csrf_token() -> str:
    """The token this visitor's forms must carry (available in templates)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, ("csrf|" + _csrf_binding()).encode(), hashlib.sha256).hexdigest()


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith("/api/"):
        return
    if request.endpoint and request.endpoint.startswith("api-docs"):
        return
    if request.endpoint == "i18n.choose" and not _session_token():
        # An anonymous visitor's language: it sets only their own preference cookie, so a
        # forged request can do no harm, and the public pages' shared cached copy carries no
        # token to send (credits/web/open.py). Signed in, it changes a profile: checked.
        return
    # A page that takes a file (a bank statement) says how large a body it accepts; the
    # form is parsed here first, so the limit must be raised before it is read.
    limit = getattr(current_app.view_functions.get(request.endpoint or ""), "max_body_bytes", 0)
    if limit:
        request.max_content_length = limit
        request.max_form_memory_size = limit
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, csrf_token()):
        abort(
            403,
            description=T(
                "This form has expired or did not come from this site. "
                "Go back, reload the page and try again."
            ),
        )


def _set_cookies(response: Response) -> Response:
    new = g.get("new_csrf_cookie")
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            new,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    # Pages show personal data: never let a shared computer's cache keep them.
    if request.path.startswith("/api/") is False and response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
        # Whose page this is, for the service worker's offline copy of a voucher
        # (credits/web/pwa.py): a page of another session, or of nobody, drops the copies.
        token = _session_token()
        if token and g.get("web_principal") is not None:
            response.headers.setdefault(OFFLINE_KEY_HEADER, offline_key(token))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        API_CSP if request.path.startswith("/api/") else PAGE_CSP,
    )
    if current_app.config["SESSION_COOKIE_SECURE"]:
        # Served over HTTPS (CREDITS_SECURE_COOKIES): browsers must never come back over HTTP.
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


# --- sign in, switch role, sign out --------------------------------------------------------


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    """The sign-in form (email or phone number, and password)."""
    error: CreditsError | None = None
    login = ""
    if request.method == "POST":
        form = read_form(SignInForm)
        login, password = form["login"], form["password"]
        # Rate limited per account and per client address, and audited (credits/accounts/signin.py).
        device_tokens = devices.split_cookie(request.cookies.get(DEVICE_COOKIE))
        outcome = signin.sign_in(
            current_services().db,
            login,
            password,
            ip=client_ip(),
            user_agent=request.headers.get("User-Agent"),
            device_tokens=device_tokens,
            secret_key=current_app.config["SECRET_KEY"],
            profile=current_services().settings.password_hash_profile,
        )
        error = outcome.error
        token = outcome.token
        if error is None and token is not None:
            g.pop("web_principal", None)
            if outcome.row is not None:
                # Until they choose one, their emails are written in the language they use.
                person_id, language = outcome.row.person_id, page_language() or i18n.DEFAULT
                current_services().db.run(lambda s: remember_language(s, person_id, language))
            response = redirect(
                _safe_next(request.args.get("next")) or url_for("auth.after_sign_in")
            )
            response.set_cookie(
                SESSION_COOKIE,
                token,
                httponly=True,
                samesite="Lax",
                secure=current_app.config["SESSION_COOKIE_SECURE"],
                max_age=int(web_sessions.SESSION_MAX_AGE.total_seconds()),
            )
            if outcome.device_token:
                # Only the sign-in form needs it: the cookie goes nowhere else.
                response.set_cookie(
                    DEVICE_COOKIE,
                    devices.remember(
                        device_tokens, outcome.device_token, current_app.config["SECRET_KEY"]
                    ),
                    httponly=True,
                    samesite="Lax",
                    secure=current_app.config["SESSION_COOKIE_SECURE"],
                    max_age=int(devices.DEVICE_MAX_AGE.total_seconds()),
                    path=url_for("auth.sign_in"),
                )
            return response
    page = render_template("auth/sign_in.html", error=error.detail if error else None, login=login)
    return page, (status_of(error) if error else 200), getattr(error, "headers", None) or {}


@bp.route("/signed-in")
def after_sign_in() -> Any:
    """Send a freshly signed-in person to their home page."""
    return redirect(home_url(current_principal()))


@bp.route("/account/role", methods=["POST"])
def choose_role() -> Any:
    """Act in another role the signed-in person holds."""
    who = current_principal()
    if who is None or who.person_id is None:
        return redirect(url_for("auth.sign_in"))
    try:
        role = Role(read_form(RoleForm)["role"])
    except ValueError:
        abort(400)
    person_id, row_id = who.person_id, g.web_session_id
    current_services().db.run(lambda s: web_sessions.switch_role(s, row_id, person_id, role))
    g.pop("web_principal", None)
    return redirect(home_url(current_principal()))


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> Any:
    """End this session."""
    token = _session_token()
    if token:
        current_services().db.run(lambda s: web_sessions.end_session(s, token))
    response = redirect(url_for("web.index"))
    response.delete_cookie(SESSION_COOKIE)
    # A shared phone keeps no copy of this person's vouchers: the browser empties its cache
    # and the service worker's (the signed-out page's script does too: static/pwa.js).
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    flash(gettext("You have signed out."), "info")
    return response


def held_roles() -> list[Role]:
    """The roles the signed-in person holds (for the role switcher)."""
    who = current_principal()
    if who is None or who.person_id is None:
        return []
    from credits.accounts.service import roles_of

    person_id = who.person_id
    with current_services().db.read() as s:
        held = roles_of(s, person_id)
    return [r for r in web_sessions.ROLE_PRIORITY if r in held]


def init_web_auth(app: Flask) -> None:
    """CSRF on every page form, cookie and header policy, template helpers."""
    app.before_request(_check_csrf)
    app.before_request(refuse_control_characters)
    app.after_request(_set_cookies)
    app.jinja_env.globals.update(
        csrf_token=csrf_token, current_principal=current_principal, held_roles=held_roles
    )
    app.register_blueprint(bp)
