"""Officer pages for statements and the month close (/officer/statements).

The pages read the same statement as the API and the command line (credits.statements) and
offer its files for download — the very bytes the API serves, and their signatures. Closing
a month is a POST with csrf_token(); it starts the close in the background (every check
first, which takes minutes at borough size) and the close page follows it to its end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for

from credits import i18n
from credits.accounts import Role
from credits.api.context import current_services
from credits.api.problems import status_of
from credits.db import utcnow
from credits.errors import CreditsError
from credits.ledger import LONDON, Month, closed_months
from credits.open import holds as open_holds
from credits.statements import close, close_runs, service, signing
from credits.statements.render import as_dict
from credits.web.auth import current_principal, page_requires
from credits.web.i18n import gettext

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
    """ "1 October 2026 to 31 October 2026" (London dates, inclusive; the page's language)."""
    last = month.ends_at - timedelta(seconds=1)
    return gettext(
        "%(first)s to %(last)s",
        first=i18n.format_day_long(month.starts_at),
        last=i18n.format_day_long(last),
    )


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
            return _picker(error=exc.detail, picked=picked), status_of(exc)
        return redirect(url_for("statement_pages.scheme", month=str(month)))
    return _picker()


def _picker(error: str | None = None, picked: str = "") -> str:
    with current_services().db.read(lag_ok=True) as s:
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
    with current_services().db.read(lag_ok=True) as s:
        file = service.statement_file(s, m, "json")
        record = close.month_close(s, m)
        hold = open_holds.hold_of(s, m)
    return render_template(
        "statements/scheme.html",
        month=m,
        days=_days(m),
        st=as_dict(file.statement),
        record=record,
        hold=hold,
        ended=utcnow() >= m.ends_at,
        london=LONDON,
    )


@bp.route("/<month>/shops/<int:shop_id>")
@page_requires(Role.OFFICER)
def shop(month: str, shop_id: int) -> str:
    """One shop's statement for a month."""
    m = _month_or_404(month)
    with current_services().db.read(lag_ok=True) as s:
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
    with current_services().db.read(lag_ok=True) as s:
        try:
            file = service.statement_file(s, m, fmt, shop_id=shop_id)
        except CreditsError:
            abort(404)
    sig = signing.sign(current_services().settings.instance_path, file.data)
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
    with current_services().db.read(lag_ok=True) as s:
        try:
            file = service.statement_file(s, m, fmt, shop_id=shop_id)
        except CreditsError:
            abort(404)
    sig = signing.sign(current_services().settings.instance_path, file.data)
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
    """The month's close: its record if closed; otherwise the latest run of the checks or
    of the close (going, with its progress, or how it ended) and the buttons to start one."""
    m = _month_or_404(month)
    return _close_page(m)


def _close_page(
    m: Month, *, error: str | None = None, error_code: str | None = None, status: int = 200
) -> Any:
    now = utcnow()
    with current_services().db.read(lag_ok=True) as s:
        record = close.month_close(s, m)
        run = close_runs.latest(s, m)
        going = close_runs.current(s)
        blocked_by = close.first_open_month_before(s, m) if record is None else None
    if going is not None and close_runs.is_stopped(going, now):
        going = None  # its process ended: the next start marks it abandoned
    return render_template(
        "statements/close.html",
        month=m,
        record=record,
        run=run,
        run_stopped=run is not None and close_runs.is_stopped(run, now),
        going=going,
        ended=now >= m.ends_at,
        error=error,
        error_code=error_code,
        blocked_by=blocked_by,
        total_checks=close_runs.total_checks(),
    ), status


@bp.route("/<month>/close", methods=["POST"])
@page_requires(Role.OFFICER)
def close_post(month: str) -> Any:
    """Start closing the month in the background (every check first; see
    credits.statements.close_runs) and show its progress on the close page."""
    return _start_run(_month_or_404(month), "close")


@bp.route("/<month>/close/checks", methods=["POST"])
@page_requires(Role.OFFICER)
def close_checks_post(month: str) -> Any:
    """Run every check in the background, without closing, and show the results."""
    return _start_run(_month_or_404(month), "check")


def _start_run(m: Month, purpose: str) -> Any:
    try:
        close_runs.start(
            current_services().db, _who(), m, purpose, jobs=current_services().settings.verify_jobs
        )
    except CreditsError as exc:
        return _close_page(m, error=exc.detail, error_code=exc.code, status=status_of(exc))
    return redirect(url_for("statement_pages.close_page", month=str(m)), code=303)


@bp.route("/<month>/close/run")
@page_requires(Role.OFFICER)
def close_run_status(month: str) -> Any:
    """The latest run for the month as JSON (the close page polls it while a run goes)."""
    m = _month_or_404(month)
    with current_services().db.read(lag_ok=True) as s:
        run = close_runs.latest(s, m)
    if run is None:
        abort(404)
    body = {
        "id": run.id,
        "purpose": run.purpose,
        "status": run.status,
        "stopped": close_runs.is_stopped(run, utcnow()),
        "total": run.progress.get("total"),
        "done": len(run.progress.get("done", [])),
        "phase": run.progress.get("phase"),
    }
    return jsonify(body), 200, {"Cache-Control": "no-store"}
