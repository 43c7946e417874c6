"""The volunteer's pages, phone first: balance, history, claiming a session, their claims.

The home page's balance panel has a hook for other capabilities: a function appended to
:data:`HOME_CONTEXT_PROVIDERS` adds variables to the template (e.g. ``in_vouchers``), and
``member/_balance.html`` has clearly named blocks where a "held in vouchers" line and a
"Spend credits" button go.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from credits import earning, i18n, ledger
from credits.accounts import Principal, Role, member_account_id
from credits.api.context import current_services
from credits.api.problems import status_of
from credits.earning import dates, quantities
from credits.earning.groups import activity_refs, member_activity_ids
from credits.errors import CreditsError
from credits.web.auth import me, page_requires
from credits.web.filters import credits
from credits.web.forms import (
    Kept,
    PageForm,
    decimal_input,
    form_key,
    new_key,
    problem_context,
    read_form,
)
from credits.web.i18n import gettext

bp = Blueprint("member", __name__, url_prefix="/me")
ClaimForm = PageForm.from_dict(
    {k: Kept() for k in ("activity", "quantity", "occurred_on", "note", "idempotency_key")},
    name="ClaimForm",
)

#: Functions ``(session, principal) -> dict`` whose results are added to the member home
#: page's template context (vouchers adds ``in_vouchers`` here).
HOME_CONTEXT_PROVIDERS: list[Callable[[Session, Principal], dict[str, Any]]] = []

HISTORY_PAGE = 20


@bp.route("")
@page_requires(Role.MEMBER)
def home() -> str:
    """Balance in large type, the latest history, claims, and "Claim a session"."""
    who = me()
    assert who.person_id is not None
    with current_services().db.read() as s:
        balance = ledger.balance(s, member_account_id(s, who.person_id))
        items, more = earning.member_history(s, who.person_id, limit=10)
        claims = earning.member_claims(s, who, limit=5)
        extra: dict[str, Any] = {}
        for provider in HOME_CONTEXT_PROVIDERS:
            extra.update(provider(s, who))
    return render_template(
        "member/home.html",
        balance=balance,
        items=items,
        more_history=more is not None,
        claims=claims,
        **extra,
    )


@bp.route("/history")
@page_requires(Role.MEMBER)
def history() -> str:
    """Every entry, newest first, a page at a time (``?before=<entry id>``)."""
    who = me()
    assert who.person_id is not None
    before = request.args.get("before", type=int)
    with current_services().db.read() as s:
        items, next_before = earning.member_history(
            s, who.person_id, before=before if before and before > 0 else None, limit=HISTORY_PAGE
        )
    return render_template(
        "member/history.html", items=items, next_before=next_before, first_page=before is None
    )


@bp.route("/claims")
@page_requires(Role.MEMBER)
def claims() -> str:
    """The member's claims and their state, newest first."""
    who = me()
    before = request.args.get("before", type=int)
    with current_services().db.read() as s:
        found = earning.member_claims(
            s, who, before=before if before and before > 0 else None, limit=HISTORY_PAGE
        )
    next_before = found[-1].id if len(found) == HISTORY_PAGE else None
    return render_template("member/claims.html", claims=found, next_before=next_before)


def _claimable(s: Session, who: Principal) -> list[Any]:
    assert who.person_id is not None
    return activity_refs(s, member_activity_ids(s, who.person_id))


@bp.route("/claim", methods=["GET", "POST"])
@page_requires(Role.MEMBER)
def claim() -> Any:
    """Claim a session: activity, how much, which day, a note."""
    who = me()
    today = dates.london_today()
    form = read_form(ClaimForm)
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    status = 200
    if request.method == "POST":
        try:
            view = current_services().db.run(
                lambda s: earning.file_claim(
                    s,
                    who,
                    activity=form.get("activity", ""),
                    quantity=decimal_input(form.get("quantity", "")),
                    occurred_on=form.get("occurred_on", ""),
                    note=form.get("note", ""),
                    idempotency_key=form_key(form),
                )
            )
        except CreditsError as exc:
            context = problem_context(exc)
            status = 409 if status_of(exc) == 409 else 422
        else:
            flash(
                gettext(
                    "Claim sent: %(amount)s for %(activity)s on %(day)s. It is waiting for your "
                    "coordinator's approval.",
                    amount=credits(view.credits),
                    activity=view.activity.name,
                    day=i18n.format_day_month(view.occurred_on),
                ),
                "success",
            )
            return redirect(url_for("member.home"))
    with current_services().db.read() as s:
        activities = [
            {
                "slug": a.slug,
                "name": a.name,
                "unit": a.unit,
                "rate": a.credits_per_unit,
                "step": quantities.step(a.unit, a.credits_per_unit),
            }
            for a in _claimable(s, who)
        ]
    return (
        render_template(
            "member/claim.html",
            activities=activities,
            form=form,
            key=form.get("idempotency_key") or new_key(),
            today=today,
            oldest=today - timedelta(days=dates.BACKDATE_DAYS),
            **context,
        ),
        status,
    )
