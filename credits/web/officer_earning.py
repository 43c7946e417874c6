"""Council officers' earning pages: activities and their rates and caps, monthly budgets,
volunteer groups (coordinators and members), the four-eyes approval queue, and the
four-eyes threshold. Every change goes through the earning use cases, which record who
made it (``updated_by``, ``added_by``, ``budget_set_by``: Principal.actor)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from credits import earning
from credits.accounts import Role
from credits.api.context import current_services
from credits.api.problems import status_of
from credits.earning import dates, quantities
from credits.earning.activities import ACTIVITY_FIELDS
from credits.errors import CreditsError
from credits.ledger import Month
from credits.web.auth import me, page_requires
from credits.web.coordinator import decide
from credits.web.filters import capfirst, credits
from credits.web.forms import (
    Choices,
    Cut,
    Kept,
    PageForm,
    new_key,
    problem_context,
    read_form,
    submit,
)
from credits.web.i18n import gettext

bp = Blueprint("officer_earning", __name__, url_prefix="/officer/earning")

ActivityForm = PageForm.from_dict({k: Kept() for k in ACTIVITY_FIELDS}, name="ActivityForm")
#: A month's budget (empty: the activity's default).
BudgetForm = PageForm.from_dict({"month": Cut(None), "budget_credits": Kept()}, name="BudgetForm")
GroupForm = PageForm.from_dict(
    {
        "name": Kept(),
        "description": Kept(),
        "activities": Choices(None, None),
        "active": Kept(),
    },
    name="GroupForm",
)
EmailForm = PageForm.from_dict({"email": Cut(None)}, name="EmailForm")
ThresholdForm = PageForm.from_dict({"four_eyes_threshold_credits": Kept()}, name="ThresholdForm")
_NUMBERS = ("credits_per_unit", "week_cap_credits", "month_cap_credits", "monthly_budget_credits")


def _plain(row: Any) -> SimpleNamespace:
    """A table row as a plain object, usable after its session has ended. Templates are
    rendered outside any session: the base template opens transactions of its own, and
    SQLite writers (every transaction starts BEGIN IMMEDIATE) would wait on each other."""
    return SimpleNamespace(**row.model_dump())


def _status(exc: CreditsError) -> int:
    return status_of(exc) if status_of(exc) in (403, 404, 409) else 422


@bp.route("")
@page_requires(Role.OFFICER)
def home() -> str:
    """What needs an officer, and the earning set-up."""
    who = me()
    with current_services().db.read() as s:
        officer_queue = earning.queue(s, who, stage="officer", limit=100)
        first_queue = earning.queue(s, who, stage="first", limit=100)
        activities = [_plain(a) for a in earning.list_activities(s, include_inactive=True)]
        groups = earning.list_groups(s, who)
        settings = earning.settings_view(s)
    return render_template(
        "officer_earning/home.html",
        officer_queue=officer_queue,
        first_queue=first_queue,
        activities=activities,
        groups=groups,
        settings=settings,
    )


# --- activities -----------------------------------------------------------------------------


def _activity_values(form: Any, *, new: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ACTIVITY_FIELDS:
        if name == "active":
            if not new:
                values["active"] = form.get("active") == "yes"
        elif name == "slug":
            if new:
                values["slug"] = form.get("slug", "")
        else:
            values[name] = form.get(name, "")
    return values


@bp.route("/activities")
@page_requires(Role.OFFICER)
def activities() -> str:
    with current_services().db.read() as s:
        rows = [_plain(a) for a in earning.list_activities(s, include_inactive=True)]
    return render_template(
        "officer_earning/activities.html",
        activities=rows,
        steps={a.slug: quantities.step(a.unit, a.credits_per_unit) for a in rows},
    )


@bp.route("/activities/new", methods=["GET", "POST"])
@page_requires(Role.OFFICER)
def new_activity() -> Any:
    who = me()
    form: dict[str, Any] = {}
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    status = 200
    if request.method == "POST":
        sent = submit(
            ActivityForm,
            lambda form: current_services().db.run(
                lambda s: earning.create_activity(s, who, _activity_values(form, new=True))
            ),
        )
        form = sent.values
        if sent.refusal is not None:
            context, status = problem_context(sent.refusal), _status(sent.refusal)
        else:
            flash(gettext("Activity “%(name)s” created.", name=sent.result.name), "success")
            return redirect(url_for("officer_earning.activities"))
    return (
        render_template("officer_earning/activity_form.html", form=form, activity=None, **context),
        status,
    )


@bp.route("/activities/<slug>", methods=["GET", "POST"])
@page_requires(Role.OFFICER)
def edit_activity(slug: str) -> Any:
    who = me()
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    status = 200
    posted: dict[str, Any] = {}
    if request.method == "POST":
        sent = submit(
            ActivityForm,
            lambda form: current_services().db.run(
                lambda s: earning.update_activity(s, who, slug, _activity_values(form, new=False))
            ),
        )
        posted = sent.values
        if sent.refusal is not None:
            context, status = problem_context(sent.refusal), _status(sent.refusal)
        else:
            flash(gettext("Activity “%(name)s” saved.", name=sent.result.name), "success")
            return redirect(url_for("officer_earning.activities"))
    with current_services().db.read() as s:
        activity = _plain(earning.get_activity(s, slug))
    shown = (
        {**posted, "active": posted.get("active") == "yes"}
        if request.method == "POST"
        else {name: getattr(activity, name) for name in ACTIVITY_FIELDS}
    )
    return (
        render_template(
            "officer_earning/activity_form.html", form=shown, activity=activity, **context
        ),
        status,
    )


@bp.route("/activities/<slug>/budgets", methods=["GET", "POST"])
@page_requires(Role.OFFICER)
def budgets(slug: str) -> Any:
    who = me()
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    status = 200
    if request.method == "POST":
        form = read_form(BudgetForm)
        month = form["month"]
        raw = (form.get("budget_credits") or "").strip()
        value = raw or None  # empty: the activity's default monthly budget
        try:
            view = current_services().db.run(
                lambda s: earning.set_month_budget(s, who, slug, month, value)
            )
        except CreditsError as exc:
            context, status = problem_context(exc), _status(exc)
            context["failed_month"] = month
            # Point the summary at that month's field (ids are budget-<month>).
            context["field_errors"] = {
                f"budget-{month}": message for message in context["field_errors"].values()
            }
        else:
            values = {"month": view.month, "amount": credits(view.budget_credits)}
            flash(
                gettext("Budget for %(month)s: %(amount)s (the default).", **values)
                if view.is_default
                else gettext("Budget for %(month)s: %(amount)s.", **values),
                "success",
            )
            return redirect(url_for("officer_earning.budgets", slug=slug))
    with current_services().db.read() as s:
        row = earning.get_activity(s, slug)
        rows = earning.budgets_around(s, row, dates.london_today())
        activity = _plain(row)
    return (
        render_template(
            "officer_earning/budgets.html",
            activity=activity,
            budgets=rows,
            this_month=str(Month.containing(dates.utcnow())),
            **context,
        ),
        status,
    )


# --- groups ---------------------------------------------------------------------------------


@bp.route("/groups")
@page_requires(Role.OFFICER)
def groups() -> str:
    who = me()
    with current_services().db.read() as s:
        found = earning.list_groups(s, who)
    return render_template("officer_earning/groups.html", groups=found)


def _group_values(form: Any) -> dict[str, Any]:
    return {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "activities": form.get("activities", []),
    }


@bp.route("/groups/new", methods=["GET", "POST"])
@page_requires(Role.OFFICER)
def new_group() -> Any:
    who = me()
    form: dict[str, Any] = {}
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    status = 200
    if request.method == "POST":
        sent = submit(
            GroupForm,
            lambda form: current_services().db.run(
                lambda s: earning.create_group(s, who, _group_values(form))
            ),
        )
        form = sent.values
        if sent.refusal is not None:
            context, status = problem_context(sent.refusal), _status(sent.refusal)
        else:
            view = sent.result
            flash(
                gettext(
                    "Group “%(name)s” created. Now add its coordinators and members.",
                    name=view.name,
                ),
                "success",
            )
            return redirect(url_for("officer_earning.group", group_id=view.id))
    with current_services().db.read() as s:
        all_activities = [_plain(a) for a in earning.list_activities(s, include_inactive=True)]
    return (
        render_template(
            "officer_earning/group_form.html",
            form=form,
            chosen=set(form.get("activities", [])),
            all_activities=all_activities,
            **context,
        ),
        status,
    )


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
@page_requires(Role.OFFICER)
def group(group_id: int) -> Any:
    """A group: details and activities (form), coordinators and members (add / remove)."""
    who = me()
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    status = 200
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = read_form(GroupForm)
        values = {**_group_values(form), "active": form.get("active") == "yes"}
        try:
            current_services().db.run(lambda s: earning.update_group(s, who, group_id, values))
        except CreditsError as exc:
            context, status = problem_context(exc), _status(exc)
        else:
            flash(gettext("Group saved."), "success")
            return redirect(url_for("officer_earning.group", group_id=group_id))
    with current_services().db.read() as s:
        view = earning.get_group(s, who, group_id)
        all_activities = [_plain(a) for a in earning.list_activities(s, include_inactive=True)]
    return (
        render_template(
            "officer_earning/group.html",
            group=view,
            all_activities=all_activities,
            chosen={a.slug for a in view.activities}
            if request.method == "GET"
            else set(form.get("activities", [])),
            form=form,
            **context,
        ),
        status,
    )


def _people(group_id: int, kind: str, action: str, person_id: int | None = None) -> Any:
    who = me()
    email = read_form(EmailForm)["email"]
    functions = {
        ("members", "add"): lambda s: earning.add_member(s, who, group_id, email),
        ("members", "remove"): lambda s: earning.remove_member(s, who, group_id, person_id),
        ("coordinators", "add"): lambda s: earning.add_coordinator(s, who, group_id, email),
        ("coordinators", "remove"): lambda s: earning.remove_coordinator(
            s, who, group_id, person_id
        ),
    }
    try:
        current_services().db.run(functions[(kind, action)])
    except CreditsError as exc:
        flash(capfirst(exc.detail), "error")
    else:
        done = {
            ("members", "add"): gettext("Member added."),
            ("members", "remove"): gettext("Member removed."),
            ("coordinators", "add"): gettext("Coordinator added."),
            ("coordinators", "remove"): gettext("Coordinator removed."),
        }
        flash(done[(kind, action)], "success")
    return redirect(url_for("officer_earning.group", group_id=group_id) + f"#{kind}")


@bp.route("/groups/<int:group_id>/members", methods=["POST"])
@page_requires(Role.OFFICER)
def add_member(group_id: int) -> Any:
    return _people(group_id, "members", "add")


@bp.route("/groups/<int:group_id>/members/<int:person_id>/remove", methods=["POST"])
@page_requires(Role.OFFICER)
def remove_member(group_id: int, person_id: int) -> Any:
    return _people(group_id, "members", "remove", person_id)


@bp.route("/groups/<int:group_id>/coordinators", methods=["POST"])
@page_requires(Role.OFFICER)
def add_coordinator(group_id: int) -> Any:
    return _people(group_id, "coordinators", "add")


@bp.route("/groups/<int:group_id>/coordinators/<int:person_id>/remove", methods=["POST"])
@page_requires(Role.OFFICER)
def remove_coordinator(group_id: int, person_id: int) -> Any:
    return _people(group_id, "coordinators", "remove", person_id)


# --- four eyes ------------------------------------------------------------------------------


@bp.route("/approvals")
@page_requires(Role.OFFICER)
def approvals() -> str:
    """Awards waiting for an officer (four eyes), and claims no coordinator has decided."""
    who = me()
    with current_services().db.read() as s:
        officer_queue = earning.queue(s, who, stage="officer", limit=100)
        first_queue = earning.queue(s, who, stage="first", limit=100)
        threshold = earning.four_eyes_threshold(s)
    return render_template(
        "officer_earning/approvals.html",
        officer_queue=officer_queue,
        first_queue=first_queue,
        threshold=threshold,
        keys={a.id: new_key() for a in officer_queue + first_queue},
    )


@bp.route("/approvals/<int:award_id>/approve", methods=["POST"])
@page_requires(Role.OFFICER)
def approve(award_id: int) -> Any:
    return decide(me(), award_id, "approve", url_for("officer_earning.approvals"))


@bp.route("/approvals/<int:award_id>/reject", methods=["POST"])
@page_requires(Role.OFFICER)
def reject(award_id: int) -> Any:
    return decide(me(), award_id, "reject", url_for("officer_earning.approvals"))


# --- settings -------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@page_requires(Role.OFFICER)
def settings() -> Any:
    who = me()
    context: dict[str, Any] = {"error": None, "field_errors": {}}
    status = 200
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = read_form(ThresholdForm)
        value = form.get("four_eyes_threshold_credits", "")
        try:
            current_services().db.run(lambda s: earning.set_four_eyes_threshold(s, who, value))
        except CreditsError as exc:
            context, status = problem_context(exc), _status(exc)
        else:
            flash(gettext("Saved: the new limit applies to decisions from now on."), "success")
            return redirect(url_for("officer_earning.settings"))
    with current_services().db.read() as s:
        current = earning.settings_view(s)
    return (
        render_template(
            "officer_earning/settings.html",
            settings=current,
            form=form,
            **context,
        ),
        status,
    )
