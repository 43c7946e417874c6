"""The officers' adjustment pages: ask to credit or debit a member (from their person page),
and the list of adjustments with the pending ones another officer approves or rejects.

    /officer/adjustments                      pending first, then the latest decided ones
    /officer/people/<id>/adjust               the form (officers)
    /officer/adjustments/<id>/approve|reject  a second officer decides (POST)

Every form carries the CSRF token; the request form also a fresh idempotency key, so a
double-clicked button asks once. The use cases are in credits/adjustments (and audit).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from credits import adjustments
from credits.accounts import people
from credits.accounts.models import Role
from credits.api.context import current_services
from credits.api.inputs import page_number
from credits.errors import CreditsError
from credits.web.account import form_error
from credits.web.auth import current_principal, page_requires
from credits.web.filters import credits
from credits.web.forms import Cut, PageForm, submit
from credits.web.i18n import gettext

bp = Blueprint("officer_adjustments", __name__, url_prefix="/officer")
AdjustForm = PageForm.from_dict(
    {
        "direction": Cut(10),
        "amount": Cut(20),
        "reason": Cut(400),
        "occurred_on": Cut(20),
        "idempotency_key": Cut(200),
    },
    name="AdjustForm",
)
ReasonForm = PageForm.from_dict({"reason": Cut(400)}, name="ReasonForm")

OFFICERS = (Role.OFFICER, Role.ADMIN)


def _who() -> Any:
    who = current_principal()
    assert who is not None
    return who


def _list_page(status: int = 200, **extra: Any) -> Any:
    state = request.args.get("state", "")
    if state not in ("", *adjustments.service.STATES):
        state = ""
    page = page_number(request.args.get("page"))

    def read(s: Any) -> dict[str, Any]:
        pending = adjustments.list_adjustments(s, state="pending", per_page=100)
        found = adjustments.list_adjustments(s, state=state or None, page=page, per_page=25)
        return {"pending": pending, "found": found}

    data = current_services().db.run(read)
    threshold = adjustments.get_threshold(current_services().settings)
    who = _who()
    return (
        render_template(
            "officer/adjustments.html",
            state=state,
            threshold=threshold,
            me=who.person_id,
            can_decide=who.role is Role.OFFICER,
            **data,
            **extra,
        ),
        status,
    )


@bp.route("/adjustments")
@page_requires(*OFFICERS)
def index() -> Any:
    """Adjustments waiting for a second officer, and every adjustment newest first."""
    return _list_page()


def _form(
    person_id: int, status: int = 200, form: dict[str, str] | None = None, **extra: Any
) -> Any:
    def read(s: Any) -> dict[str, Any]:
        from credits import ledger

        person = people.view_person(s, person_id)
        held = (
            ledger.balance(s, person.ledger_account_id)
            if person.ledger_account_id is not None
            else None
        )
        return {"person": person, "balance": held}

    data = current_services().db.run(read)
    form = form or {
        "direction": "credit",
        "amount": "",
        "reason": "",
        "occurred_on": "",
        "idempotency_key": secrets.token_urlsafe(16),
    }
    return (
        render_template(
            "officer/adjust.html",
            form=form,
            threshold=adjustments.get_threshold(current_services().settings),
            maximum=adjustments.MAX_ADJUSTMENT_CREDITS,
            **data,
            **extra,
        ),
        status,
    )


@bp.route("/people/<int:person_id>/adjust", methods=["GET", "POST"])
@page_requires(Role.OFFICER)
def adjust(person_id: int) -> Any:
    """Credit or debit one member, with a reason (four eyes above the threshold)."""
    if request.method == "GET":
        return _form(person_id)
    who = _who()
    threshold = adjustments.get_threshold(current_services().settings)
    sent = submit(
        AdjustForm,
        lambda form: current_services().db.run(
            lambda s: adjustments.request_adjustment(
                s,
                who,
                person_id=person_id,
                direction=form["direction"],
                amount=form["amount"].strip(),
                reason=form["reason"],
                occurred_on=form["occurred_on"].strip() or None,
                idempotency_key=form["idempotency_key"],
                threshold=threshold,
            )
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        status = info.pop("status")
        return _form(person_id, status, sent.values, **info)
    view = sent.result
    values = {"amount": credits(view.amount), "name": view.person_name}
    credit = view.direction == adjustments.CREDIT
    if view.state == adjustments.POSTED:
        flash(
            gettext("%(amount)s credited to %(name)s's account.", **values)
            if credit
            else gettext("%(amount)s debited from %(name)s's account.", **values),
            "success",
        )
        return redirect(url_for("officer.person", person_id=person_id))
    values["limit"] = credits(threshold)
    flash(
        gettext(
            "Asked: %(amount)s credited to %(name)s's account. It is above %(limit)s, so "
            "another officer must approve it.",
            **values,
        )
        if credit
        else gettext(
            "Asked: %(amount)s debited from %(name)s's account. It is above %(limit)s, so "
            "another officer must approve it.",
            **values,
        ),
        "success",
    )
    return redirect(url_for("officer_adjustments.index"))


@bp.route("/adjustments/<int:adjustment_id>/approve", methods=["POST"])
@page_requires(Role.OFFICER)
def approve(adjustment_id: int) -> Any:
    """A second officer approves: posted now."""
    who = _who()
    try:
        view = current_services().db.run(lambda s: adjustments.approve(s, who, adjustment_id))
    except CreditsError as exc:
        info = form_error(exc)
        return _list_page(info.pop("status"), **info)
    values = {"amount": credits(view.amount), "name": view.person_name}
    flash(
        gettext("Approved: %(amount)s credited to %(name)s.", **values)
        if view.direction == adjustments.CREDIT
        else gettext("Approved: %(amount)s debited from %(name)s.", **values),
        "success",
    )
    return redirect(url_for("officer_adjustments.index"))


@bp.route("/adjustments/<int:adjustment_id>/reject", methods=["POST"])
@page_requires(Role.OFFICER)
def reject(adjustment_id: int) -> Any:
    """A second officer rejects, saying why: nothing is posted."""
    who = _who()
    sent = submit(
        ReasonForm,
        lambda form: current_services().db.run(
            lambda s: adjustments.reject(s, who, adjustment_id, reason=form["reason"])
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        return _list_page(info.pop("status"), rejecting=adjustment_id, **info)
    view = sent.result
    flash(
        gettext("Rejected: the adjustment for %(name)s will not be posted.", name=view.person_name),
        "success",
    )
    return redirect(url_for("officer_adjustments.index"))
