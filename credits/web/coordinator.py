"""The coordinator's pages: their groups, recording attendance (one member, or a whole
session's sheet), and the approval queue of their groups' claims. A coordinator sees only
their own groups' people (the use cases enforce it; these pages only ever ask for them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from credits import earning
from credits.accounts import Principal, Role
from credits.api.context import current_services
from credits.api.problems import status_of
from credits.earning import dates
from credits.earning.activities import four_eyes_threshold
from credits.earning.awards import AwardView
from credits.earning.errors import LinesRefused
from credits.errors import CreditsError
from credits.web.auth import me, page_requires
from credits.web.filters import capfirst, credits
from credits.web.forms import (
    Kept,
    PageForm,
    decimal_input,
    form_key,
    new_key,
    problem_context,
    read_form,
)
from credits.web.i18n import gettext, ngettext

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")
RecordForm = PageForm.from_dict(
    {
        k: Kept()
        for k in ("member_email", "activity", "quantity", "occurred_on", "note", "idempotency_key")
    },
    name="RecordForm",
)
#: A session's sheet: these, and one quantity ``q-<person id>`` per member of the group.
SHEET_FIELDS = {k: Kept() for k in ("activity", "occurred_on", "note", "idempotency_key")}
DecisionForm = PageForm.from_dict(
    {"idempotency_key": Kept(), "reason": Kept()}, name="DecisionForm"
)


def _who(view: AwardView) -> str:
    if view.member:
        return view.member.name
    return ngettext("%(num)s volunteer", "%(num)s volunteers", len(view.lines))


def _outcome(view: AwardView, threshold: int) -> tuple[str, str]:
    """The flash message after recording or approving."""
    who, amount = _who(view), credits(view.credits)
    if view.replayed:
        return gettext("That was already done: %(amount)s for %(who)s.", amount=amount, who=who), (
            "info"
        )
    if view.state == earning.AWAITING_OFFICER:
        return (
            gettext(
                "Sent to a council officer: %(amount)s for %(who)s is above the limit of "
                "%(limit)s for one person, so an officer must approve it too.",
                amount=amount,
                who=who,
                limit=credits(threshold),
            ),
            "info",
        )
    return gettext(
        "Done: %(amount)s for %(who)s (%(activity)s).",
        amount=amount,
        who=who,
        activity=view.activity.name,
    ), "success"


def _scope(who: Principal) -> tuple[list[Any], list[Any], list[Any]]:
    """The coordinator's groups (with members), and the people and activities in them."""
    with current_services().db.read() as s:
        groups = [earning.get_group(s, who, g.id) for g in earning.list_groups(s, who)]
    active = [g for g in groups if g.active]
    people = sorted({m for g in active for m in g.members}, key=lambda p: (p.name, p.id))
    activities = sorted({a for g in active for a in g.activities}, key=lambda a: a.name)
    return groups, people, activities


@bp.route("")
@page_requires(Role.COORDINATOR)
def home() -> str:
    """Groups, what is waiting for approval, and what was recorded lately."""
    who = me()
    with current_services().db.read() as s:
        groups = earning.list_groups(s, who)
        waiting = earning.queue(s, who, limit=100)
        recent = earning.recent_for_coordinator(s, who, limit=10)
    return render_template("coordinator/home.html", groups=groups, waiting=waiting, recent=recent)


@bp.route("/groups/<int:group_id>")
@page_requires(Role.COORDINATOR)
def group(group_id: int) -> str:
    """One of the coordinator's groups: its activities and members."""
    who = me()
    with current_services().db.read() as s:
        found = earning.get_group(s, who, group_id)
    return render_template("coordinator/group.html", group=found)


@bp.route("/record", methods=["GET", "POST"])
@page_requires(Role.COORDINATOR)
def record() -> Any:
    """Record one member's activity."""
    who = me()
    _groups, people, activities = _scope(who)
    form = read_form(RecordForm, "form" if request.method == "POST" else "query")
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    key = form.get("idempotency_key") or new_key()
    status = 200
    if request.method == "POST":
        try:

            def use_case(s: Any) -> tuple[AwardView, int]:
                view = earning.record_award(
                    s,
                    who,
                    member_email=form.get("member_email", ""),
                    activity=form.get("activity", ""),
                    quantity=decimal_input(form.get("quantity", "")),
                    occurred_on=form.get("occurred_on", ""),
                    note=form.get("note", ""),
                    idempotency_key=form_key(form),
                )
                return view, four_eyes_threshold(s)

            view, threshold = current_services().db.run(use_case)
        except CreditsError as exc:
            context = problem_context(exc)
            status = 409 if status_of(exc) == 409 else 403 if status_of(exc) == 403 else 422
            if exc.code == "idempotency_conflict":
                key = new_key()
        else:
            flash(*_outcome(view, threshold))
            return redirect(url_for("coordinator.record"))
    today = dates.london_today()
    return (
        render_template(
            "coordinator/record.html",
            people=people,
            activities=activities,
            form=form,
            key=key,
            today=today,
            oldest=today - timedelta(days=dates.BACKDATE_DAYS),
            **context,
        ),
        status,
    )


@bp.route("/groups/<int:group_id>/sheet", methods=["GET", "POST"])
@page_requires(Role.COORDINATOR)
def sheet(group_id: int) -> Any:
    """A whole session's attendance for one group: all or nothing, one entry."""
    who = me()
    with current_services().db.read() as s:
        found = earning.get_group(s, who, group_id)
    form = read_form(
        PageForm.from_dict(
            {**SHEET_FIELDS, **{f"q-{person.id}": Kept() for person in found.members}},
            name="SheetForm",
        )
    )
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    row_errors: dict[int, str] = {}
    key = form.get("idempotency_key") or new_key()
    status = 200
    if request.method == "POST":
        lines, rows = [], []
        for person in found.members:
            value = (form.get(f"q-{person.id}") or "").strip()
            if value:
                lines.append({"member_email": person.email, "quantity": decimal_input(value)})
                rows.append(person.id)
        try:
            if not lines:
                raise _EmptySheet()

            def use_case(s: Any) -> tuple[AwardView, int]:
                view = earning.record_session(
                    s,
                    who,
                    activity=form.get("activity", ""),
                    occurred_on=form.get("occurred_on", ""),
                    note=form.get("note", ""),
                    lines=lines,
                    idempotency_key=form_key(form),
                )
                return view, four_eyes_threshold(s)

            view, threshold = current_services().db.run(use_case)
        except _EmptySheet:
            context = {
                "error": gettext(
                    "Nothing was recorded: enter how long (or how many) for at least one person."
                ),
                "field_errors": {},
                "failed": True,
            }
            status = 422
        except LinesRefused as exc:
            for line in exc.lines:
                # A line's own messages, each in the page's language (its "detail" joins
                # them in English for the API).
                errors = line.get("errors") or {}
                messages = [m for ms in errors.values() for m in ms] or [line["detail"]]
                row_errors[rows[line["line"] - 1]] = "; ".join(str(capfirst(m)) for m in messages)
            context = {
                "error": ngettext(
                    "Nothing was recorded: %(num)s line needs correcting.",
                    "Nothing was recorded: %(num)s lines need correcting.",
                    len(exc.lines),
                ),
                "field_errors": {},
                "failed": True,
            }
            status = 422
        except CreditsError as exc:
            context = problem_context(exc)
            status = 409 if status_of(exc) == 409 else 403 if status_of(exc) == 403 else 422
            if exc.code == "idempotency_conflict":
                key = new_key()
        else:
            flash(*_outcome(view, threshold))
            return redirect(url_for("coordinator.group", group_id=group_id))
    today = dates.london_today()
    return (
        render_template(
            "coordinator/sheet.html",
            group=found,
            form=form,
            key=key,
            row_errors=row_errors,
            today=today,
            oldest=today - timedelta(days=dates.BACKDATE_DAYS),
            **context,
        ),
        status,
    )


class _EmptySheet(Exception):
    pass


@bp.route("/approvals")
@page_requires(Role.COORDINATOR)
def approvals() -> str:
    """Claims from the coordinator's groups waiting for a decision."""
    who = me()
    with current_services().db.read() as s:
        waiting = earning.queue(s, who, limit=100)
    return render_template(
        "coordinator/approvals.html", waiting=waiting, keys={a.id: new_key() for a in waiting}
    )


def decide(who: Principal, award_id: int, action: str, back: str) -> Any:
    """Approve or reject from a queue page, then go back to it with the outcome."""
    form = read_form(DecisionForm)
    try:
        if action == "approve":

            def use_case(s: Any) -> tuple[AwardView, int]:
                return (
                    earning.approve(s, who, award_id, idempotency_key=form_key(form)),
                    four_eyes_threshold(s),
                )

            view, threshold = current_services().db.run(use_case)
            name, amount = _who(view), credits(view.credits)
            if view.state == earning.AWAITING_OFFICER:
                flash(
                    gettext(
                        "Approved. %(amount)s for %(who)s is above the limit of %(limit)s, so a "
                        "council officer must approve it too.",
                        amount=amount,
                        who=name,
                        limit=credits(threshold),
                    ),
                    "info",
                )
            else:
                flash(
                    gettext("Approved: %(amount)s for %(who)s.", amount=amount, who=name),
                    "success",
                )
        else:
            view = current_services().db.run(
                lambda s: earning.reject(s, who, award_id, reason=form.get("reason", ""))
            )
            flash(
                gettext(
                    "Not approved: %(activity)s for %(who)s (%(amount)s).",
                    activity=view.activity.name,
                    who=_who(view),
                    amount=credits(view.credits),
                ),
                "info",
            )
    except CreditsError as exc:
        message = capfirst(exc.detail)
        if exc.code == "validation_error" and action == "reject":
            message = gettext(
                "Say why you are not approving it: the volunteer will see your reason."
            )
        flash(message, "error")
    return redirect(back)


@bp.route("/approvals/<int:award_id>/approve", methods=["POST"])
@page_requires(Role.COORDINATOR)
def approve(award_id: int) -> Any:
    return decide(me(), award_id, "approve", url_for("coordinator.approvals"))


@bp.route("/approvals/<int:award_id>/reject", methods=["POST"])
@page_requires(Role.COORDINATOR)
def reject(award_id: int) -> Any:
    return decide(me(), award_id, "reject", url_for("coordinator.approvals"))
