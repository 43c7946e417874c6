"""The voucher pages: a member spends credits as a QR voucher (phone first), lists and
cancels their vouchers, prints one; an officer issues and prints one for a member who has
no smartphone.

    /vouchers                      the member's vouchers (open first) and "Spend credits"
    /vouchers/new                  choose an amount → a new voucher
    /vouchers/<id>                 the full-screen QR with amount, expiry and reference; also
                                   offline, as last seen (credits/web/pwa.py)
    /vouchers/<id>/cancel          confirm, then cancel (credits back at once)
    /vouchers/<id>/print           a printable voucher (A6, or A4 with cut marks)
    /officer/vouchers/new          an officer issues a voucher for a member, then prints it

Every form carries the CSRF token and a fresh idempotency key, so a double-tapped button or
a resubmitted form makes one voucher, not two. Refusals (not enough credits, a cancelled
voucher...) are shown on the page with their message, and change nothing.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from credits.accounts import Principal, Role
from credits.accounts.people import member_id_by_email, name_of
from credits.api.context import current_services
from credits.api.problems import status_of
from credits.db import utcnow
from credits.errors import CreditsError, ValidationFailed
from credits.i18n import T
from credits.statements.member import may_read
from credits.vouchers import qr
from credits.vouchers.errors import VoucherNotFound
from credits.vouchers.inactivity import warning_for
from credits.vouchers.models import Voucher, VoucherState
from credits.vouchers.runtime import runtime
from credits.vouchers.service import (
    MAX_FACE_VALUE,
    balance_summary,
    cancel_voucher,
    code_for,
    display_reference,
    get_voucher,
    issue_voucher,
    list_vouchers,
)
from credits.web.auth import current_principal, page_requires
from credits.web.filters import capfirst
from credits.web.forms import Cut, PageForm, submit
from credits.web.i18n import gettext, ngettext

bp = Blueprint("vouchers_pages", __name__, template_folder="templates")

LONDON = ZoneInfo("Europe/London")
_WHOLE = re.compile(r"^\s*(\d{1,7})\s*$")
#: The spend form: a quick-amount button sends "quick"; the typed amount is "amount".
SpendForm = PageForm.from_dict(
    {"quick": Cut(20), "amount": Cut(20), "idempotency_key": Cut(None)}, name="SpendForm"
)
#: An officer's voucher for a member, found by email address.
IssueForm = PageForm.from_dict(
    {"email": Cut(254), "amount": Cut(20), "idempotency_key": Cut(None)}, name="IssueForm"
)
#: Amounts offered as one-tap buttons on the phone (only those the member can afford).
QUICK_AMOUNTS = (5, 10, 20, 50)


def _typed_amount(form: dict[str, Any]) -> str:
    """The amount chosen: a quick-amount button's, else the typed one."""
    return str(form.get("quick") or form.get("amount") or "")[:20]


def _read(use_case: Any) -> Any:
    with current_services().db.read() as s:
        result = use_case(s)
        s.expunge_all()
    return result


def _me() -> int:
    who = current_principal()
    assert who is not None and who.person_id is not None
    return who.person_id


def parse_amount(raw: str | None) -> int:
    """A whole number of credits typed into a form."""
    match = _WHOLE.match(raw or "")
    if not match or not 1 <= int(match.group(1)) <= MAX_FACE_VALUE:
        raise ValidationFailed(
            T("Enter a whole number of credits, like 10."),
            errors={"amount": [T("Enter a whole number of credits, like 10.")]},
        )
    return int(match.group(1))


def _view(v: Voucher) -> dict[str, Any]:
    """What a template needs of a voucher."""
    now = utcnow()
    return {
        "id": v.id,
        "amount": v.face_value,
        "reference": display_reference(v),
        "state": v.state,
        "is_open": v.state == VoucherState.OPEN.value and v.expires_at > now,
        "past_expiry": v.state == VoucherState.OPEN.value and v.expires_at <= now,
        "issued_at": v.issued_at,
        "expires_at": v.expires_at,
        "closed_at": v.closed_at,
        "by_officer": not v.issued_by.startswith(f"person:{v.person_id} "),
    }


def inactivity_warning(person_id: int) -> Any:
    """The inactivity warning for a member, or None (for any page that shows it)."""
    policy = runtime(current_services().settings).inactivity
    if not policy.enabled:
        return None
    return _read(lambda s: warning_for(s, person_id, policy))


def home_context(session: Any, principal: Principal) -> dict[str, Any]:
    """``in_vouchers`` and the inactivity warning for the member's home page (registered in
    credits.web.member's ``HOME_CONTEXT_PROVIDERS`` by register_web)."""
    assert principal.person_id is not None
    return {
        "in_vouchers": balance_summary(session, principal.person_id).in_vouchers,
        "warning": inactivity_warning(principal.person_id),
    }


# --- the member's pages --------------------------------------------------------------------


@bp.route("/vouchers")
@page_requires(Role.MEMBER)
def index() -> str:
    """The member's vouchers: open ones first, then the last few used or cancelled."""
    person_id = _me()

    def load(s: Any) -> tuple[Any, list[Voucher], list[Voucher]]:
        return (
            balance_summary(s, person_id),
            list_vouchers(s, person_id, states=[VoucherState.OPEN], limit=100),
            list_vouchers(
                s,
                person_id,
                states=[VoucherState.REDEEMED, VoucherState.CANCELLED, VoucherState.EXPIRED],
                limit=10,
            ),
        )

    summary, open_rows, closed_rows = _read(load)
    return render_template(
        "vouchers/index.html",
        summary=summary,
        open_vouchers=[_view(v) for v in open_rows],
        closed_vouchers=[_view(v) for v in closed_rows],
        warning=inactivity_warning(person_id),
    )


@bp.route("/vouchers/new", methods=["GET", "POST"])
@page_requires(Role.MEMBER)
def new() -> Any:
    """Spend credits: choose an amount, get a voucher."""
    person_id = _me()
    who = current_principal()
    assert who is not None
    error, status, amount_text = None, 200, ""
    if request.method == "POST":
        rt = runtime(current_services().settings)

        def spend(form: dict[str, Any]) -> Voucher:
            amount = parse_amount(_typed_amount(form))
            voucher, _ = current_services().db.run(
                lambda s: issue_voucher(
                    s,
                    keyring=rt.keyring,
                    policy=rt.policy,
                    person_id=person_id,
                    amount=amount,
                    client_key=form["idempotency_key"],
                    actor=who.actor,
                )
            )
            return voucher

        sent = submit(SpendForm, spend)
        amount_text = _typed_amount(sent.values)
        if sent.refusal is None:
            return redirect(url_for("vouchers_pages.show", voucher_id=sent.result.id), code=303)
        error, status = _friendly(sent.refusal), status_of(sent.refusal)
    summary = _read(lambda s: balance_summary(s, person_id))
    return (
        render_template(
            "vouchers/new.html",
            summary=summary,
            error=error,
            amount=amount_text,
            quick=[a for a in QUICK_AMOUNTS if a <= summary.balance],
            idempotency_key=secrets.token_urlsafe(18),
            expiry_days=runtime(current_services().settings).policy.expiry_days,
            warning=inactivity_warning(person_id),
        ),
        status,
    )


def _friendly(exc: CreditsError) -> str:
    """A refusal in words for the page (in its language)."""
    if exc.code == "insufficient_funds":
        detail = capfirst(exc.detail).rstrip(".")
        return gettext("You do not have enough credits for that. %(detail)s.", detail=detail)
    return capfirst(exc.detail)


@bp.route("/vouchers/<voucher_id>")
@page_requires(Role.MEMBER)
def show(voucher_id: str) -> str:
    """The voucher to show at the counter: a large QR, the amount, expiry and reference."""
    person_id = _me()
    v = _read(lambda s: get_voucher(s, voucher_id, person_id=person_id))
    view = _view(v)
    svg = None
    if view["is_open"]:
        code = code_for(v, runtime(current_services().settings).keyring)
        title = gettext("QR code of voucher %(ref)s", ref=view["reference"])
        svg = Markup(qr.svg(code, "M", title=title))  # noqa: S704 (our own SVG)
    # seen_at: when this copy was made; offline, the service worker's copy shows it.
    return render_template("vouchers/show.html", v=view, qr_svg=svg, seen_at=utcnow())


@bp.route("/vouchers/<voucher_id>/cancel", methods=["GET", "POST"])
@page_requires(Role.MEMBER)
def cancel(voucher_id: str) -> Any:
    """Ask, then cancel: the credits go back to the member's balance at once."""
    person_id = _me()
    who = current_principal()
    assert who is not None
    v = _read(lambda s: get_voucher(s, voucher_id, person_id=person_id))
    error = None
    if request.method == "POST":
        try:
            current_services().db.run(
                lambda s: cancel_voucher(s, v.id, actor=who.actor, person_id=person_id)
            )
        except CreditsError as exc:
            error = _friendly(exc)
        else:
            flash(
                ngettext(
                    "Voucher %(ref)s is cancelled: %(num)s credit is back in your balance.",
                    "Voucher %(ref)s is cancelled: %(num)s credits are back in your balance.",
                    v.face_value,
                    ref=display_reference(v),
                ),
                "info",
            )
            return redirect(url_for("vouchers_pages.index"), code=303)
    return render_template("vouchers/cancel.html", v=_view(v), error=error), (409 if error else 200)


@bp.route("/vouchers/<voucher_id>/print")
@page_requires(Role.MEMBER, Role.COORDINATOR, Role.OFFICER)
def printable(voucher_id: str) -> str:
    """A voucher on paper (A6; on A4 it is centred with cut marks), QR at level Q. A member
    prints their own; a coordinator those of their groups' members; an officer anyone's."""
    who = current_principal()
    assert who is not None
    owner = who.person_id if who.role is Role.MEMBER else None

    def load(s: Any) -> tuple[Voucher, str]:
        v = get_voucher(s, voucher_id, person_id=owner)
        if not may_read(s, who, v.person_id):
            # Not ours to see: "not found", as another member's voucher is to a member.
            raise VoucherNotFound(T("there is no such voucher"))
        return v, name_of(s, v.person_id)

    v, holder = _read(load)
    view = _view(v)
    svg = None
    if view["is_open"]:
        code = code_for(v, runtime(current_services().settings).keyring)
        title = gettext("QR code of voucher %(ref)s", ref=view["reference"])
        svg = Markup(qr.svg(code, "Q", title=title))  # noqa: S704 (our own SVG)
    return render_template("vouchers/print.html", v=view, qr_svg=svg, holder=holder)


# --- officers ------------------------------------------------------------------------------


@bp.route("/officer/vouchers/new", methods=["GET", "POST"])
@page_requires(Role.OFFICER)
def officer_new() -> Any:
    """Issue a voucher for a member (who has no smartphone) and print it. The ledger entry
    and the voucher name the officer as who issued it."""
    who = current_principal()
    assert who is not None
    error, status, email, amount_text = None, 200, "", ""
    if request.method == "POST":
        rt = runtime(current_services().settings)

        def issue(form: dict[str, Any]) -> Voucher:
            amount = parse_amount(form["amount"])
            voucher, _ = current_services().db.run(
                lambda s: issue_voucher(
                    s,
                    keyring=rt.keyring,
                    policy=rt.policy,
                    person_id=member_id_by_email(s, form["email"]),
                    amount=amount,
                    client_key=form["idempotency_key"],
                    actor=who.actor,
                )
            )
            return voucher

        sent = submit(IssueForm, issue)
        email, amount_text = sent.values.get("email", ""), sent.values.get("amount", "")
        if sent.refusal is None:
            flash(
                gettext(
                    "Voucher %(ref)s issued. Print it below.", ref=display_reference(sent.result)
                ),
                "info",
            )
            return redirect(
                url_for("vouchers_pages.printable", voucher_id=sent.result.id), code=303
            )
        error, status = _friendly(sent.refusal), status_of(sent.refusal)
    return (
        render_template(
            "vouchers/officer_new.html",
            error=error,
            email=email,
            amount=amount_text,
            idempotency_key=secrets.token_urlsafe(18),
        ),
        status,
    )
