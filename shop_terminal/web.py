"""The counter screen: a Flask app served on the till (``shop-terminal serve``).

Works without JavaScript — the scan form is a plain POST answered with a redirect to the
result (so a reload never scans again) — and, with JavaScript, submits in the background
and swaps in the result, keeps the scan box focused for a USB/Bluetooth scanner, offers the
camera where the browser has ``BarcodeDetector``, and polls the connection state.

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

from flask import Flask, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from shop_terminal.images import ImageUnreadable, pick_voucher, read_codes
from shop_terminal.messages import credits, when
from shop_terminal.terminal import Outcome, Terminal

CSRF_COOKIE = "shop_terminal_csrf"
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

    def csrf_for(cookie: str) -> str:
        return hmac.new(secret, f"counter/{cookie}".encode(), hashlib.sha256).hexdigest()

    @app.before_request
    def guard() -> None:
        if not _host_allowed(request.host):
            abort(
                400,
                "This address is not allowed: open the counter screen at "
                "http://127.0.0.1 or http://localhost.",
            )
        if request.method not in ("GET", "HEAD"):
            own = f"{request.scheme}://{request.host}"
            origin = request.headers.get("Origin")
            if origin is None and request.referrer:
                parts = urlsplit(request.referrer)
                origin = f"{parts.scheme}://{parts.netloc}"
            if origin != own:
                abort(403, "This request did not come from the counter screen.")
            if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
                abort(403, "This request did not come from the counter screen.")
            cookie = request.cookies.get(CSRF_COOKIE, "")
            sent = request.form.get("csrf", "")
            if not cookie or not hmac.compare_digest(sent, csrf_for(cookie)):
                abort(403, "The page was out of date: it has been reloaded, please scan again.")

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
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        wants_json = "application/json" in request.headers.get("Accept", "")
        if wants_json:
            return jsonify(error=exc.description, status=exc.code), exc.code
        return render_template("error.html", error=exc), exc.code

    def context(outcome: Outcome | None = None, **extra: Any) -> dict[str, Any]:
        ctx = terminal._context()
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
            "recent": [(s, terminal.outcome(s).message) for s in scans[:8]],
            "attention": [(s, terminal.outcome(s).message) for s in terminal.store.attention()],
            "terminal_name": info.get("name") or "Shop terminal",
            "shop_name": (info.get("shop") or {}).get("name") or "",
            "limits": terminal.offline_limits(),
            "form_id": str(uuid.uuid4()),
            "csrf": csrf_for(cookie),
            "csrf_cookie": cookie,
            "when": lambda t: when(t, ctx),
            "credits": credits,
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
                abort(404, "No such scan.")
            outcome = terminal.outcome(scan)
        return page(outcome=outcome)

    @app.post("/scan")
    def scan() -> Any:
        code = request.form.get("code", "")
        if not code.strip():
            return page(400, form_error="Scan a voucher, or type its code, then press Enter.")
        amount_text = request.form.get("amount", "").strip()
        amount = None
        if amount_text:
            if not amount_text.isdigit() or int(amount_text) < 1:
                return page(
                    400,
                    form_error="The amount must be a whole number of credits, "
                    "1 or more (or empty to take all of the voucher).",
                )
            amount = int(amount_text)
        source = request.form.get("source", "scanner")
        if source not in ("scanner", "camera", "keyboard"):
            source = "scanner"
        form_id = request.form.get("form_id") or None
        return answer(terminal.scan(code, amount=amount, source=source, form_id=form_id))

    @app.post("/scan-image")
    def scan_image() -> Any:
        upload = request.files.get("picture")
        if upload is None or not upload.filename:
            return page(400, form_error="Choose a picture of the voucher's QR code first.")
        try:
            code = pick_voucher(read_codes(upload.read()))
        except ImageUnreadable as exc:
            return page(400, form_error=f"Could not read that picture: {exc}.")
        if code is None:
            return page(
                400,
                form_error="No QR code found in this picture. Try a sharper, "
                "closer picture, or type the code.",
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


def _facts(outcome: Outcome, ctx: Any) -> str | None:
    s = outcome.scan
    if not s.reference:
        return None
    parts = [f"Reference {s.reference}", f"face value {credits(s.face_value)}"]
    if s.expires_at:
        local = datetime.fromtimestamp(s.expires_at, UTC).astimezone(ctx.tz)
        parts.append(f"valid until {local.day} {local.strftime('%b %Y %H:%M')}")
    return " · ".join(parts)
