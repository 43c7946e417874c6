"""The public record's pages (/open, no sign-in) and the officers' hold and release.

/open                     every closed month and the year so far, with charts
/open/YYYY-MM             one published month in detail
POST /officer/open/YYYY-MM/hold      hold back a month's publication (officers; a reason)
POST /officer/open/YYYY-MM/release   publish it again

The pages read only what credits.open.PublicRecordService has built for this process (no
SQL here). A visitor who is not signed in and has no message waiting gets the page's bytes
as rendered for the first such visitor in the same language since the record last changed:
the page may be shared widely, and a close, hold or release changes the record's stamp, so
the next visitor in every worker gets it anew. Every text on these pages is in the templates
(templates/open/), marked for translation; charts take their titles and legends from the
template too (``open_chart``), and their month names and numbers are written for the page's
language (Babel). No inline script or style.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from credits import i18n
from credits.accounts import Role
from credits.api.context import current_services, public_record
from credits.dashboard import charts
from credits.errors import CreditsError
from credits.ledger import LONDON, Month
from credits.open import holds
from credits.open.record import PublicRecord
from credits.open.render import first_and_last_day
from credits.open.service import RecordVersion
from credits.statements.render import pounds
from credits.web.auth import SESSION_COOKIE, current_principal, page_requires
from credits.web.forms import Cut, PageForm, read_form
from credits.web.i18n import gettext, page_language

bp = Blueprint("open_pages", __name__)
#: Why a month is held back or released (the use case checks its length).
ReasonForm = PageForm.from_dict({"reason": Cut(None)}, name="ReasonForm")

#: How many of the latest published months the charts show.
CHART_MONTHS = 12
#: Browsers and shared caches may keep the anonymous page this long (seconds).
PAGE_MAX_AGE = 60


def _anonymous_and_plain() -> bool:
    """True when the page cannot differ from any other anonymous visitor's: no session,
    no message waiting in the Flask session."""
    return (
        SESSION_COOKIE not in request.cookies
        and current_app.config.get("SESSION_COOKIE_NAME", "session") not in request.cookies
    )


def _page_variant() -> str:
    """What else the rendered page depends on besides the record and the URL: the
    negotiated language (``cc_lang`` cookie, else Accept-Language, else English; see
    credits/web/i18n.py), so each language is cached apart."""
    return page_language() or i18n.DEFAULT


def _serve_page(version: RecordVersion, key: str, render: Any) -> Response:
    if not _anonymous_and_plain():
        return Response(render(), mimetype="text/html")
    # One copy serves every anonymous visitor: it must hold nothing of the first one's — no
    # CSRF token in the language switcher (base.html leaves it out; POST /language takes an
    # anonymous visitor's choice without one, credits/web/auth.py) and no cookie set.
    g.public_page = True
    html: bytes = version.cached(
        ("page", key, _page_variant()), lambda _record: render().encode("utf-8")
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = f"public, max-age={PAGE_MAX_AGE}"
    # The language comes from the cc_lang cookie or from Accept-Language.
    response.headers["Vary"] = "Cookie, Accept-Language"
    return response


@bp.route("/open")
def index() -> Response:
    """The scheme in numbers: every closed month and the year so far."""
    version = public_record().current()
    return _serve_page(
        version, "index", lambda: render_template("open/index.html", **_context(version))
    )


@bp.route("/open/<month>")
def month(month: str) -> Response:
    """One published month. Not closed, held back or malformed: the error page says which."""
    version = public_record().current()
    pm = version.published_month(month)
    return _serve_page(
        version,
        f"month:{pm.figures.month}",
        lambda: render_template("open/month.html", pm=pm, f=pm.figures, **_context(version)),
    )


def _context(version: RecordVersion) -> dict[str, Any]:
    g.open_version = version  # the charts of this page come from the same version
    return {
        "record": version.record,
        "licence": public_record().meta.licence_dict(),
        "month_label": month_label,
        "day_label": day_label,
        "first_and_last_day": first_and_last_day,
    }


# --- helpers the templates use ---------------------------------------------------------------


@bp.app_template_filter("pounds_text")
def pounds_text(pence: int | None) -> str | None:
    """``1450`` → ``"14.50"`` (integers only; None stays None)."""
    return pounds(pence)


def month_label(month: Month | str) -> str:
    """``October 2026`` (in the page's language: ``październik 2026``)."""
    m = Month.parse(month) if isinstance(month, str) else month
    return i18n.format_month(m.starts_at.astimezone(LONDON))


def day_label(day: date) -> str:
    """``25 November 2026`` (in the page's language: ``25 listopada 2026``)."""
    return i18n.format_day_long(day)


def _short(m: Month, first: bool) -> str:
    """A chart's month: ``Oct 2026`` on the first and each January, else ``Nov``."""
    return i18n.format_month_short(m.starts_at.astimezone(LONDON), year=first or m.month == 1)


def _chart(record: PublicRecord, kind: str, month: str | None, labels: dict[str, str]) -> Markup:
    published = record.published[-CHART_MONTHS:]
    if kind in ("flows", "outstanding"):
        names = [_short(p.month, i == 0) for i, p in enumerate(published)]
        if kind == "flows":
            return charts.bar_chart(
                "open-flows",
                labels["title"],
                names,
                [
                    charts.Series(
                        labels["earned"],
                        [p.figures.credits_earned for p in published],
                        charts.ISSUED_COLOUR,
                    ),
                    charts.Series(
                        labels["spent"],
                        [p.figures.credits_spent for p in published],
                        charts.REDEEMED_COLOUR,
                    ),
                ],
                labels["unit"],
            )
        return charts.step_chart(
            "open-outstanding",
            labels["title"],
            names,
            charts.Series(
                labels["series"],
                [p.figures.outstanding_at_end for p in published],
                charts.LINE_COLOUR,
            ),
            labels["unit"],
        )
    target = next((p for p in published if p.figures.month == month), None)
    if target is None:
        target = next(p for p in record.published if p.figures.month == month)
    f = target.figures
    if kind == "activities":
        rows = [(a.name, a.credits_earned) for a in f.activities]
        colour = charts.ISSUED_COLOUR
    else:
        rows = [(s.name, s.credits_spent) for s in f.shops]
        colour = charts.REDEEMED_COLOUR
    return charts.bar_chart(
        f"open-{kind}",
        labels["title"],
        [name for name, _ in rows],
        [charts.Series(labels["series"], [v for _, v in rows], colour)],
        labels["unit"],
    )


@bp.app_template_global("open_chart")
def open_chart(kind: str, month: str | None = None, **labels: str) -> Markup:
    """An SVG chart of the public record (kinds: ``flows``, ``outstanding`` over the latest
    months; ``activities``, ``shops`` of one month). Its title, legend and unit words come
    from the template, so they are translated with the page; its month names and numbers
    are the page language's, so each language's chart is cached apart."""
    labels = {name: str(text) for name, text in labels.items()}  # plain text: escaped once
    key = ("chart", kind, month, _page_variant(), tuple(sorted(labels.items())))
    version: RecordVersion = g.get("open_version") or public_record().current()
    chart: Markup = version.cached(key, lambda r: _chart(r, kind, month, labels))
    return chart


# --- officers: hold back, release ------------------------------------------------------------


def _back(month: str) -> Any:
    return redirect(url_for("statement_pages.scheme", month=month), code=303)


@bp.route("/officer/open/<month>/hold", methods=["POST"])
@page_requires(Role.OFFICER)
def hold(month: str) -> Any:
    """Hold back a month's publication on /open and in the open data (with a reason)."""
    who = current_principal()
    try:
        m = Month.parse(month)
        reason = read_form(ReasonForm)["reason"]
        current_services().db.run(lambda s: holds.hold(s, who, m, reason))
        public_record().expire()
    except CreditsError as exc:
        flash(str(i18n.translate(exc.detail)), "error")
        return _back(month)
    flash(
        gettext("%(month)s is held back: /open and the open data no longer show it.", month=str(m)),
        "success",
    )
    return _back(str(m))


@bp.route("/officer/open/<month>/release", methods=["POST"])
@page_requires(Role.OFFICER)
def release(month: str) -> Any:
    """Release a month's hold: it is published again (if it is closed)."""
    who = current_principal()
    try:
        m = Month.parse(month)
        reason = read_form(ReasonForm)["reason"]
        current_services().db.run(lambda s: holds.release(s, who, m, reason))
        public_record().expire()
    except CreditsError as exc:
        flash(str(i18n.translate(exc.detail)), "error")
        return _back(month)
    flash(gettext("%(month)s is no longer held back.", month=str(m)), "success")
    return _back(str(m))
