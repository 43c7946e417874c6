"""Officer pages for statements and the month close (/officer/statements).

The pages read the same statement as the API and the command line (credits.statements) and
offer its files for download — the very bytes the API serves, and their signatures. Closing
a month is a POST with csrf_token(); it runs every check first and shows what failed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from credits.accounts import Role
from credits.api.context import services
from credits.db import utcnow
from credits.errors import CreditsError
from credits.ledger import LONDON, Month, closed_months
from credits.statements import close, service, signing
from credits.statements.render import as_dict
from credits.web.auth import current_principal, page_requires

bp = Blueprint("statement_pages", __name__, url_prefix="/officer/statements")

#: How many past months the picker lists.
PICKER_MONTHS = 24


def _who() -> Any:
    who = current_principal()
    assert who is not None
    return who


def _month_or_404(text: str) -> Month:
    try:
        return service.parse_month(text)
    except CreditsError:
        abort(404)


def _shop_arg() -> int | None:
    raw = request.args.get("shop", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 15:
        abort(404)
    return int(raw)


def _days(month: Month) -> str:
    """ "1 October 2026 to 31 October 2026" (London dates, inclusive)."""
    first = month.starts_at.astimezone(LONDON)
    last = (month.ends_at - timedelta(seconds=1)).astimezone(LONDON)
    return f"{first.day} {first:%B %Y} to {last.day} {last:%B %Y}"


def _recent_months() -> list[Month]:
    month = Month.containing(utcnow())
    out = []
    for _ in range(PICKER_MONTHS):
        out.append(month)
        month = month.previous()
    return out


@bp.route("")
@page_requires(Role.OFFICER)
def index() -> Any:
    """The month picker: recent months, each open or closed."""
    picked = request.args.get("month", "")
    if picked:
        try:
            month = service.parse_month(picked)
        except CreditsError as exc:
            return _picker(error=exc.detail, picked=picked), exc.status
        return redirect(url_for("statement_pages.scheme", month=str(month)))
    return _picker()


def _picker(error: str | None = None, picked: str = "") -> str:
    with services().db.read() as s:
        closed = set(closed_months(s))
    return render_template(
        "statements/index.html",
        months=_recent_months(),
        closed=closed,
        error=error,
        picked=picked,
        current=Month.containing(utcnow()),
    )


@bp.route("/<month>")
@page_requires(Role.OFFICER)
def scheme(month: str) -> str:
    """The scheme's statement for a month."""
    m = _month_or_404(month)
    with services().db.read() as s:
        file = service.statement_file(s, m, "json")
        record = close.month_close(s, m)
    return render_template(
        "statements/scheme.html",
        month=m,
        days=_days(m),
        st=as_dict(file.statement),
        record=record,
        ended=utcnow() >= m.ends_at,
        london=LONDON,
    )


@bp.route("/<month>/shops/<int:shop_id>")
@page_requires(Role.OFFICER)
def shop(month: str, shop_id: int) -> str:
    """One shop's statement for a month."""
    m = _month_or_404(month)
    with services().db.read() as s:
        try:
            file = service.statement_file(s, m, "json", shop_id=shop_id)
        except CreditsError:
            abort(404)
        record = close.month_close(s, m)
    return render_template(
        "statements/shop.html", month=m, days=_days(m), st=as_dict(file.statement), record=record
    )


@bp.route("/<month>/download/<fmt>")
@page_requires(Role.OFFICER)
def download(month: str, fmt: str) -> Response:
    """A statement file (json, csv, hledger, beancount); ``?shop=ID`` for a shop's."""
    m = _month_or_404(month)
    if fmt not in service.FORMATS:
        abort(404)
    shop_id = _shop_arg()
    with services().db.read() as s:
        try:
            file = service.statement_file(s, m, fmt, shop_id=shop_id)
        except CreditsError:
            abort(404)
    sig = signing.sign(services().settings.instance_path, file.data)
    return Response(
        file.data,
        content_type=file.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            signing.HEADER: sig,
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/<month>/signature/<fmt>")
@page_requires(Role.OFFICER)
def signature(month: str, fmt: str) -> Response:
    """The detached signature of a statement file (for `credits verify-statement`)."""
    m = _month_or_404(month)
    if fmt not in service.FORMATS:
        abort(404)
    shop_id = _shop_arg()
    with services().db.read() as s:
        try:
            file = service.statement_file(s, m, fmt, shop_id=shop_id)
        except CreditsError:
            abort(404)
    sig = signing.sign(services().settings.instance_path, file.data)
    return Response(
        sig + "\n",
        content_type="text/plain; charset=ascii",
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}.sig"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/<month>/close", methods=["GET"])
@page_requires(Role.OFFICER)
def close_page(month: str) -> Any:
    """What closing the month will do, the checks as they stand, and the button."""
    m = _month_or_404(month)
    with services().db.read() as s:
        record = close.month_close(s, m)
        jobs = services().settings.verify_jobs
        results = [r.as_dict() for r in close.run_checks(s, jobs=jobs)] if record is None else []
        # Months close in order: say which to close first before the officer presses.
        blocked_by = close.first_open_month_before(s, m) if record is None else None
    return render_template(
        "statements/close.html",
        month=m,
        record=record,
        results=results,
        ended=utcnow() >= m.ends_at,
        failed=None,
        error=None,
        blocked_by=blocked_by,
    )


@bp.route("/<month>/close", methods=["POST"])
@page_requires(Role.OFFICER)
def close_post(month: str) -> Any:
    """Close the month (every check first); on refusal show what failed."""
    m = _month_or_404(month)
    who = _who()
    try:
        result = services().db.run(
            lambda s: close.close_month(
                s, who, m, now=utcnow(), jobs=services().settings.verify_jobs
            )
        )
    except close.CloseRefused as exc:
        return render_template(
            "statements/close.html",
            month=m,
            record=None,
            results=[],
            ended=True,
            failed=exc.extra["failed"],
            error=exc.detail,
        ), exc.status
    except CreditsError as exc:
        with services().db.read() as s:
            record = close.month_close(s, m)
        return render_template(
            "statements/close.html",
            month=m,
            record=record,
            results=[],
            ended=utcnow() >= m.ends_at,
            failed=None,
            error=exc.detail,
        ), exc.status
    flash(f"{m} is closed. Statement SHA-256 {result.statement_sha256}.", "success")
    return redirect(url_for("statement_pages.scheme", month=str(m)))
