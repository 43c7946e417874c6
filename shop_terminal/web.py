"""The counter screen: a Flask app served on the till (``shop-terminal serve``).

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

import hashlib
import hmac
import ipaddress
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from shop_terminal import i18n
from shop_terminal.i18n import Words
from shop_terminal.images import ImageUnreadable, pick_voucher, read_codes
from shop_terminal.messages import clock, credits, when
from shop_terminal.terminal import Outcome, Terminal

CSRF_COOKIE = "shop_terminal_csrf"
LANGUAGE_COOKIE = "shop_terminal_lang"
MAX_UPLOAD_BYTES = 16 * 1024 * 1024


def _choose_language() -> str:
    """The switcher's choice (a cookie on the till), else the browser's, else English."""
    chosen = i18n.normalise(request.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    for value, _quality in request.accept_languages:
        if value == "*":
            return i18n.DEFAULT
        found = i18n.normalise(value)
        if found:
            return found
    return i18n.DEFAULT


def words() -> Words:
    """The words of this request's language."""
    found = g.get("words")
    if not isinstance(found, Words):
        found = Words(_choose_language())
        g.words = found
    return found


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

    def csrf_for(cookie: str) -> str:
        return hmac.new(secret, f"counter/{cookie}".encode(), hashlib.sha256).hexdigest()

    @app.before_request
    def guard() -> None:
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
            if not cookie or not hmac.compare_digest(sent, csrf_for(cookie)):
                abort(
                    403,
                    w.gettext("The page was out of date: it has been reloaded, please scan again."),
                )

    @app.after_request
    def headers(response: Any) -> Any:
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

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
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

    def context(outcome: Outcome | None = None, **extra: Any) -> dict[str, Any]:
        w = words()
        ctx = terminal._context(w)
        if outcome is not None:
            # The scan's words in the screen's language (the terminal writes English).
            outcome = terminal.outcome(outcome.scan, w)
        totals, scans = terminal.today(limit=8)
        month = terminal.totals(*terminal.month_bounds())
        queued, queued_credits = terminal.store.queue_summary()
        info = terminal.info() or {}
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_hex(16)
        return {
            "outcome": outcome,
            "facts": _facts(outcome, ctx) if outcome else None,
            "online": terminal.online(),
            "queued": queued,
            "queued_credits": queued_credits,
            "unconfirmed": terminal.store.unresolved_count(),
            "totals": totals,
            "month": month,
            "recent": [(s, terminal.outcome(s, w).message) for s in scans[:8]],
            "attention": [(s, terminal.outcome(s, w).message) for s in terminal.store.attention()],
            "terminal_name": info.get("name") or w.gettext("Shop terminal"),
            "shop_name": (info.get("shop") or {}).get("name") or "",
            "limits": terminal.offline_limits(),
            "form_id": str(uuid.uuid4()),
            "csrf": csrf_for(cookie),
            "csrf_cookie": cookie,
            "when": lambda t: when(t, ctx),
            "clock": lambda t: clock(t, ctx),
            "credits": lambda n: credits(n, w),
            "number": w.number,
            "language": w.language,
            "languages": [
                {"code": code, "name": name, "current": code == w.language}
                for code, name in i18n.LANGUAGES.items()
            ],
            **extra,
        }

    def page(status: int = 200, **kw: Any) -> Any:
        values = context(**kw)
        response = app.make_response((render_template("counter.html", **values), status))
        if request.cookies.get(CSRF_COOKIE) != values["csrf_cookie"]:
            response.set_cookie(
                CSRF_COOKIE, values["csrf_cookie"], httponly=True, samesite="Strict", path="/"
            )
        return response

    def answer(outcome: Outcome) -> Any:
        if "application/json" in request.headers.get("Accept", ""):
            values = context(outcome)
            return jsonify(
                scan_id=outcome.scan.id,
                tone=outcome.message.tone,
                # The machine-readable outcome keeps its English words, as on the command line.
                outcome=outcome.as_json(),
                result_html=render_template("_result.html", **values),
                status_html=render_template("_status.html", **values),
                lists_html=render_template("_lists.html", **values),
                form_id=values["form_id"],
            )
        return redirect(url_for("index", scan=outcome.scan.id), code=303)

    @app.get("/")
    def index() -> Any:
        outcome = None
        if scan_id := request.args.get("scan"):
            scan = terminal.store.scan(scan_id)
            if scan is None:
                abort(404, words().gettext("No such scan."))
            outcome = terminal.outcome(scan, words())
        return page(outcome=outcome)

    @app.post("/language")
    def language() -> Any:
        chosen = i18n.normalise(request.form.get("language"))
        if chosen is None:
            abort(400, words().gettext("Choose one of the languages offered."))
        response = redirect(url_for("index"), code=303)
        # A year: the till keeps its language until someone changes it.
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, httponly=True, samesite="Strict"
        )
        return response

    @app.post("/scan")
    def scan() -> Any:
        w = words()
        code = request.form.get("code", "")
        if not code.strip():
            return page(
                400, form_error=w.gettext("Scan a voucher, or type its code, then press Enter.")
            )
        amount_text = request.form.get("amount", "").strip()
        amount = None
        if amount_text:
            if not amount_text.isdigit() or int(amount_text) < 1:
                return page(
                    400,
                    form_error=w.gettext(
                        "The amount must be a whole number of credits, "
                        "1 or more (or empty to take all of the voucher)."
                    ),
                )
            amount = int(amount_text)
        source = request.form.get("source", "scanner")
        if source not in ("scanner", "camera", "keyboard"):
            source = "scanner"
        form_id = request.form.get("form_id") or None
        return answer(terminal.scan(code, amount=amount, source=source, form_id=form_id))

    @app.post("/scan-image")
    def scan_image() -> Any:
        w = words()
        upload = request.files.get("picture")
        if upload is None or not upload.filename:
            return page(
                400, form_error=w.gettext("Choose a picture of the voucher's QR code first.")
            )
        try:
            code = pick_voucher(read_codes(upload.read()))
        except ImageUnreadable as exc:
            why = {
                "too_large_file": w.gettext("the picture is larger than 15 MB"),
                "too_many_pixels": w.gettext("the picture is too large"),
            }.get(exc.reason, w.gettext("this file is not a picture the terminal can read"))
            return page(400, form_error=w.gettext("Could not read that picture: %(why)s.", why=why))
        if code is None:
            return page(
                400,
                form_error=w.gettext(
                    "No QR code found in this picture. Try a sharper, "
                    "closer picture, or type the code."
                ),
            )
        form_id = request.form.get("form_id") or None
        return answer(terminal.scan(code, source="image", form_id=form_id))

    @app.post("/sync")
    def sync_now() -> Any:
        terminal.sync()
        return redirect(url_for("index"), code=303)

    @app.post("/attention/<scan_id>/seen")
    def seen(scan_id: str) -> Any:
        terminal.store.acknowledge(scan_id)
        return redirect(url_for("index"), code=303)

    @app.get("/status.json")
    def status() -> Any:
        values = context()
        return jsonify(
            online=values["online"],
            queued=values["queued"],
            queued_credits=values["queued_credits"],
            today={"count": values["totals"].count, "credits": values["totals"].credits},
            status_html=render_template("_status.html", **values),
            lists_html=render_template("_lists.html", **values),
        )

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(ok=True)

    return app


def _standard_error(status: int | None, w: Words) -> str:
    if status == 404:
        return w.gettext("There is nothing at this address.")
    if status == 405:
        return w.gettext("This address does not take that kind of request.")
    if status == 413:
        return w.gettext("That file is too large to send (at most 16 MB).")
    return w.gettext("The counter screen could not do that. Go back and try again.")


def _facts(outcome: Outcome, ctx: Any) -> str | None:
    s = outcome.scan
    w: Words = ctx.words
    if not s.reference:
        return None
    parts = [
        w.gettext("Reference %(ref)s", ref=s.reference),
        w.gettext("face value %(amount)s", amount=credits(s.face_value, w)),
    ]
    if s.expires_at:
        local = datetime.fromtimestamp(s.expires_at, UTC).astimezone(ctx.tz)
        parts.append(w.gettext("valid until %(when)s", when=w.day_and_time(local)))
    return " · ".join(parts)
