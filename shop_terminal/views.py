"""The counter screen's views: a Blueprint over the terminal's public API.

The app (shop_terminal/web.py) puts the :class:`Counter` — the terminal and the key of the
CSRF tokens — in ``app.extensions``; each view reads it with :func:`counter`, asks the
:class:`~shop_terminal.terminal.Terminal` and renders the answer. A scan is a POST answered
with a redirect to its result (a reload never scans again), or, when the page's script
asks for JSON, with the result's pieces of HTML to swap in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from shop_terminal import i18n
from shop_terminal.i18n import Words
from shop_terminal.images import ImageUnreadable, pick_voucher, read_codes
from shop_terminal.messages import Context, clock, credits, when
from shop_terminal.terminal import Outcome, Terminal

CSRF_COOKIE = "shop_terminal_csrf"
LANGUAGE_COOKIE = "shop_terminal_lang"
#: How many of today's scans the screen lists.
RECENT_SCANS = 8

bp = Blueprint("counter", __name__)


@dataclass(frozen=True)
class Counter:
    """What the views serve: the terminal, and the key its CSRF tokens are made with."""

    terminal: Terminal
    secret: bytes

    def csrf_for(self, cookie: str) -> str:
        """The CSRF token that goes with a browser's random ``cookie``."""
        return hmac.new(self.secret, f"counter/{cookie}".encode(), hashlib.sha256).hexdigest()


def counter() -> Counter:
    """The :class:`Counter` of the app serving this request."""
    found: Counter = current_app.extensions["shop_terminal"]
    return found


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


def _context(outcome: Outcome | None = None, **extra: Any) -> dict[str, Any]:
    """Everything the counter's templates show: the scan's result, the connection, the
    queue, today's and this month's figures, and a CSRF token for the forms."""
    c = counter()
    terminal = c.terminal
    w = words()
    ctx = terminal.display_context(w)
    if outcome is not None:
        # The scan's words in the screen's language (the terminal writes English).
        outcome = terminal.outcome(outcome.scan, w)
    totals, scans = terminal.today(limit=RECENT_SCANS)
    month = terminal.totals(*terminal.month_bounds())
    queued, queued_credits = terminal.queue_summary()
    info = terminal.info() or {}
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_hex(16)
    return {
        "outcome": outcome,
        "facts": _facts(outcome, ctx) if outcome else None,
        "online": terminal.online(),
        "queued": queued,
        "queued_credits": queued_credits,
        "unconfirmed": terminal.unconfirmed_count(),
        "totals": totals,
        "month": month,
        "recent": [(s, terminal.outcome(s, w).message) for s in scans[:RECENT_SCANS]],
        "attention": [(s, terminal.outcome(s, w).message) for s in terminal.needs_attention()],
        "terminal_name": info.get("name") or w.gettext("Shop terminal"),
        "shop_name": (info.get("shop") or {}).get("name") or "",
        "limits": terminal.offline_limits(),
        "form_id": str(uuid.uuid4()),
        "csrf": c.csrf_for(cookie),
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


def _page(status: int = 200, **kw: Any) -> Any:
    """The whole counter page (setting the CSRF cookie the first time)."""
    values = _context(**kw)
    response = current_app.make_response((render_template("counter.html", **values), status))
    if request.cookies.get(CSRF_COOKIE) != values["csrf_cookie"]:
        response.set_cookie(
            CSRF_COOKIE, values["csrf_cookie"], httponly=True, samesite="Strict", path="/"
        )
    return response


def _answer(outcome: Outcome) -> Any:
    """A scan's answer: JSON with the pieces to swap in, or a redirect to its result."""
    if "application/json" in request.headers.get("Accept", ""):
        values = _context(outcome)
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
    return redirect(url_for("counter.index", scan=outcome.scan.id), code=303)


@bp.get("/")
def index() -> Any:
    """The counter screen; ``?scan=<id>`` shows that scan's result."""
    outcome = None
    if scan_id := request.args.get("scan"):
        terminal = counter().terminal
        scan = terminal.stored_scan(scan_id)
        if scan is None:
            abort(404, words().gettext("No such scan."))
        outcome = terminal.outcome(scan, words())
    return _page(outcome=outcome)


@bp.post("/language")
def language() -> Any:
    """Switch the screen's language (remembered in a cookie on the till)."""
    chosen = i18n.normalise(request.form.get("language"))
    if chosen is None:
        abort(400, words().gettext("Choose one of the languages offered."))
    response = redirect(url_for("counter.index"), code=303)
    # A year: the till keeps its language until someone changes it.
    response.set_cookie(
        LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, httponly=True, samesite="Strict"
    )
    return response


@bp.post("/scan")
def scan() -> Any:
    """Take a voucher scanned, typed or read by the camera, for all or part of it."""
    w = words()
    code = request.form.get("code", "")
    if not code.strip():
        return _page(
            400, form_error=w.gettext("Scan a voucher, or type its code, then press Enter.")
        )
    amount_text = request.form.get("amount", "").strip()
    amount = None
    if amount_text:
        if not amount_text.isdigit() or int(amount_text) < 1:
            return _page(
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
    return _answer(counter().terminal.scan(code, amount=amount, source=source, form_id=form_id))


@bp.post("/scan-image")
def scan_image() -> Any:
    """Take a voucher from a picture of its QR code."""
    w = words()
    upload = request.files.get("picture")
    if upload is None or not upload.filename:
        return _page(400, form_error=w.gettext("Choose a picture of the voucher's QR code first."))
    try:
        code = pick_voucher(read_codes(upload.read()))
    except ImageUnreadable as exc:
        why = {
            "too_large_file": w.gettext("the picture is larger than 15 MB"),
            "too_many_pixels": w.gettext("the picture is too large"),
        }.get(exc.reason, w.gettext("this file is not a picture the terminal can read"))
        return _page(400, form_error=w.gettext("Could not read that picture: %(why)s.", why=why))
    if code is None:
        return _page(
            400,
            form_error=w.gettext(
                "No QR code found in this picture. Try a sharper, closer picture, or type the code."
            ),
        )
    form_id = request.form.get("form_id") or None
    return _answer(counter().terminal.scan(code, source="image", form_id=form_id))


@bp.post("/sync")
def sync_now() -> Any:
    """Send what waits for the ledger now, and fetch its lists."""
    counter().terminal.sync()
    return redirect(url_for("counter.index"), code=303)


@bp.post("/attention/<scan_id>/seen")
def seen(scan_id: str) -> Any:
    """The shopkeeper has seen a scan's changed outcome."""
    counter().terminal.acknowledge(scan_id)
    return redirect(url_for("counter.index"), code=303)


@bp.get("/status.json")
def status() -> Any:
    """The connection, queue and today's figures, for the page's script to poll."""
    values = _context()
    return jsonify(
        online=values["online"],
        queued=values["queued"],
        queued_credits=values["queued_credits"],
        today={"count": values["totals"].count, "credits": values["totals"].credits},
        status_html=render_template("_status.html", **values),
        lists_html=render_template("_lists.html", **values),
    )


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the counter screen answers."""
    return jsonify(ok=True)


def _facts(outcome: Outcome, ctx: Context) -> str | None:
    """The voucher's reference, face value and expiry, under the result."""
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
