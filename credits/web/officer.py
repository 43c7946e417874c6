"""The officer's pages: the dashboard (credits/dashboard), people, registrations,
invitations, API tokens and the audit log. Officers and admins only. Every action is a POST
form with csrf_token(), runs one use case from credits.accounts, and is recorded in the audit
log by that use case.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from credits import audit, dashboard, i18n
from credits.accounts import people, tokens
from credits.accounts.models import Role
from credits.api.context import current_services
from credits.api.requestinfo import deliver, outgoing
from credits.dashboard import charts
from credits.dashboard.queries import attention
from credits.errors import CreditsError, ValidationFailed
from credits.i18n import T, translate
from credits.ledger import LONDON
from credits.web.account import form_error
from credits.web.auth import current_principal, page_requires
from credits.web.filters import ROLE_LABELS, capfirst
from credits.web.forms import Choices, Cut, PageForm, read_form, submit
from credits.web.i18n import gettext

bp = Blueprint("officer", __name__, url_prefix="/officer")

OFFICERS = (Role.OFFICER, Role.ADMIN)
PER_PAGE = 25
PersonForm = PageForm.from_dict({"name": Cut(300), "phone": Cut(60)}, name="PersonForm")
GrantForm = PageForm.from_dict({"role": Cut(30), "scope_ref": Cut(130)}, name="GrantForm")
ReasonForm = PageForm.from_dict({"reason": Cut(600)}, name="ReasonForm")
#: Where a revoked token's list was, to go back to it.
BackForm = PageForm.from_dict({"back": Cut(None)}, name="BackForm")
InviteForm = PageForm.from_dict(
    {
        "name": Cut(300),
        "email": Cut(300),
        "phone": Cut(60),
        "roles": Choices(None, 10),
        "scope_ref": Cut(130),
        "language": Cut(8),
    },
    name="InviteForm",
)


def _who() -> Any:
    who = current_principal()
    assert who is not None
    return who


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name, "")
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if 1 <= value <= 10**15 else default


def _page() -> int:
    return _int_arg("page", 1) or 1


def _render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, **context), status


# --- home ------------------------------------------------------------------------------------


@bp.route("")
@page_requires(*OFFICERS)
def home() -> Any:
    """What needs the officer's attention, and where everything is."""

    def read(s: Any) -> dict[str, Any]:
        cards = attention(s)
        return {
            "dash": dashboard.build(s),
            "counts": cards.people_by_status,
            "ready_to_approve": cards.ready_to_approve,
            "active_tokens": cards.active_tokens,
            "failures_24h": cards.failures_24h,
            "actions_text": audit.ACTIONS,
            "shop_count": cards.shop_count,
            "terminals_never_seen": cards.terminals_never_seen,
        }

    # Lag-tolerant: on the read replica when there is one (docs/scaling.md).
    with current_services().db.read(lag_ok=True) as s:
        data = read(s)
    return _render("officer/home.html", **data, **_charts(data["dash"]))


def _charts(dash: dashboard.Dashboard) -> dict[str, Any]:
    """The dashboard's two charts, as inline SVG."""
    # "Jan 2026" on the first month and each January, "Feb" otherwise (the page's language).
    labels = [
        i18n.format_month_short(m.month.starts_at, year=m.month.month == 1 or i == 0)
        for i, m in enumerate(dash.months)
    ]
    flows = charts.bar_chart(
        "flows-chart",
        gettext("Credits issued and redeemed per month, last 12 months (London months)"),
        labels,
        [
            charts.Series(gettext("Issued"), [m.issued for m in dash.months], charts.ISSUED_COLOUR),
            charts.Series(
                gettext("Redeemed"), [m.redeemed for m in dash.months], charts.REDEEMED_COLOUR
            ),
        ],
        gettext("credits"),
    )
    liability = charts.step_chart(
        "liability-chart",
        gettext("Outstanding liability at each month end (members' balances and open vouchers)"),
        labels,
        charts.Series(
            gettext("Outstanding credits"), [m.liability for m in dash.months], charts.LINE_COLOUR
        ),
        gettext("credits"),
    )
    return {"flows_chart": flows, "liability_chart": liability, "month_labels": labels}


# --- people ----------------------------------------------------------------------------------


@bp.route("/people")
@page_requires(*OFFICERS)
def people_list() -> Any:
    """Find people by name, email or number; filter by status and role."""
    filters = {
        "q": request.args.get("q", "")[:100],
        "status": request.args.get("status", ""),
        "role": request.args.get("role", ""),
    }
    try:
        found = current_services().db.run(
            lambda s: people.list_people(
                s,
                q=filters["q"] or None,
                status=filters["status"] or None,
                role=filters["role"] or None,
                page=_page(),
                per_page=PER_PAGE,
            )
        )
    except CreditsError as exc:
        info = form_error(exc)
        status = info.pop("status")
        return _render("officer/people.html", status, found=None, filters=filters, **info)
    return _render("officer/people.html", found=found, filters=filters)


def _person_page(person_id: int, status: int = 200, **extra: Any) -> Any:
    def read(s: Any) -> dict[str, Any]:
        person = people.view_person(s, person_id)
        owned = tokens.list_tokens(s, person_id=person_id, page=1, per_page=50)
        events = audit.list_events(s, person_id=person_id, page=1, per_page=10)
        return {"person": person, "tokens": owned.items, "events": events}

    return _render("officer/person.html", status, **current_services().db.run(read), **extra)


@bp.route("/people/<int:person_id>")
@page_requires(*OFFICERS)
def person(person_id: int) -> Any:
    """One person: details, roles, status, tokens, and what happened to them lately."""
    return _person_page(person_id)


def _act(person_id: int, use_case: Any, done: str) -> Any:
    """Run an action from the person page: back to it with a message, or the error."""
    try:
        current_services().db.run(use_case)
    except CreditsError as exc:
        # Back to the person's page with the error (an unknown person is a 404 from there).
        info = form_error(exc)
        status = info.pop("status")
        return _person_page(person_id, status, **info)
    flash(str(translate(done)), "success")
    return redirect(url_for("officer.person", person_id=person_id))


@bp.route("/people/<int:person_id>/edit", methods=["GET", "POST"])
@page_requires(*OFFICERS)
def edit_person(person_id: int) -> Any:
    """Change a person's name or mobile number."""
    current = current_services().db.run(lambda s: people.view_person(s, person_id))
    if request.method == "GET":
        form = {"name": current.name, "phone": current.phone or ""}
        return _render("officer/edit_person.html", person=current, form=form)
    who = _who()
    sent = submit(
        PersonForm,
        lambda form: current_services().db.run(
            lambda s: people.update_person(
                s, who, person_id, name=form["name"], phone=form["phone"]
            )
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        status = info.pop("status")
        return _render("officer/edit_person.html", status, person=current, form=sent.values, **info)
    flash(gettext("Saved."), "success")
    return redirect(url_for("officer.person", person_id=person_id))


@bp.route("/people/<int:person_id>/roles", methods=["POST"])
@page_requires(*OFFICERS)
def grant_role(person_id: int) -> Any:
    """Grant a role (shop staff with their shop)."""
    who = _who()
    form = read_form(GrantForm)
    role, scope = form["role"], form["scope_ref"]
    return _act(
        person_id,
        lambda s: people.grant(s, who, person_id, role, scope or None),
        T("Role granted: %(role)s.", role=ROLE_LABELS.get(role, role)),
    )


@bp.route("/people/<int:person_id>/roles/<role>/revoke", methods=["POST"])
@page_requires(*OFFICERS)
def revoke_role(person_id: int, role: str) -> Any:
    """Revoke a role (its tokens and sessions end at once)."""
    who = _who()
    return _act(
        person_id,
        lambda s: people.revoke(s, who, person_id, role[:30]),
        T(
            "Role revoked: %(role)s. Their tokens and sessions in it have ended.",
            role=ROLE_LABELS.get(role, role),
        ),
    )


@bp.route("/people/<int:person_id>/disable", methods=["POST"])
@page_requires(*OFFICERS)
def disable(person_id: int) -> Any:
    """Disable someone: sessions, tokens and emailed links end now."""
    who = _who()
    reason = read_form(ReasonForm)["reason"]
    return _act(
        person_id,
        lambda s: people.disable(s, who, person_id, reason),
        T("Disabled. They are signed out everywhere and their API tokens no longer work."),
    )


@bp.route("/people/<int:person_id>/enable", methods=["POST"])
@page_requires(*OFFICERS)
def enable(person_id: int) -> Any:
    """Re-enable someone who was disabled."""
    who = _who()
    return _act(person_id, lambda s: people.enable(s, who, person_id), T("Re-enabled."))


# --- registrations ---------------------------------------------------------------------------


@bp.route("/registrations")
@page_requires(*OFFICERS)
def registrations(status: int = 200, **extra: Any) -> Any:
    """Residents waiting for approval, oldest first."""
    found = current_services().db.run(
        lambda s: people.list_registrations(s, page=_page(), per_page=PER_PAGE)
    )
    return _render("officer/registrations.html", status, found=found, **extra)


@bp.route("/registrations/<int:person_id>/approve", methods=["POST"])
@page_requires(*OFFICERS)
def approve(person_id: int) -> Any:
    """Approve: an active member from now on, told by email."""
    who = _who()
    out = outgoing()
    try:
        view, message = current_services().db.run(lambda s: people.approve(s, who, out, person_id))
    except CreditsError as exc:
        info = form_error(exc)
        return registrations(info.pop("status"), **info)
    problems = deliver([message])
    flash(gettext("%(name)s is approved and can sign in.", name=view.name), "success")
    for problem in problems:
        flash(str(translate(problem)), "error")
    return redirect(url_for("officer.registrations"))


@bp.route("/registrations/<int:person_id>/decline", methods=["POST"])
@page_requires(*OFFICERS)
def decline(person_id: int) -> Any:
    """Decline with a reason (emailed to them)."""
    who = _who()
    out = outgoing()
    sent = submit(
        ReasonForm,
        lambda form: current_services().db.run(
            lambda s: people.decline(s, who, out, person_id, form["reason"])
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        reason = sent.values.get("reason", "")
        return registrations(info.pop("status"), declining=person_id, reason=reason, **info)
    view, message = sent.result
    problems = deliver([message])
    flash(
        gettext(
            "%(name)s's registration is declined; they have been emailed the reason.",
            name=view.name,
        ),
        "success",
    )
    for problem in problems:
        flash(str(translate(problem)), "error")
    return redirect(url_for("officer.registrations"))


# --- invitations -----------------------------------------------------------------------------


@bp.route("/invitations")
@page_requires(*OFFICERS)
def invitations() -> Any:
    """Invitations not accepted yet."""
    state = request.args.get("state", "")
    if state not in ("", "pending", "expired"):
        state = ""
    found = current_services().db.run(
        lambda s: people.list_invitations(s, state=state or None, page=_page(), per_page=PER_PAGE)
    )
    return _render("officer/invitations.html", found=found, state=state)


@bp.route("/invitations/new", methods=["GET", "POST"])
@page_requires(*OFFICERS)
def invite() -> Any:
    """Invite someone by email, with their roles."""
    who = _who()
    if request.method == "GET":
        return _render("officer/invite.html", form={**read_form(InviteForm), "roles": ["member"]})
    out = outgoing()
    sent = submit(
        InviteForm,
        lambda form: current_services().db.run(
            lambda s: people.invite(
                s,
                who,
                out,
                name=form["name"],
                email=form["email"],
                phone=form["phone"],
                roles=form["roles"],
                scope_ref=form["scope_ref"] or None,
                language=form["language"] or None,
            )
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        status = info.pop("status")
        return _render("officer/invite.html", status, form=sent.values, **info)
    view, _, message = sent.result
    problems = deliver([message])
    if problems:
        for problem in problems:
            flash(
                gettext(
                    "%(problem)s Use “Send again” once mail works.",
                    problem=translate(problem),
                ),
                "error",
            )
    else:
        flash(
            gettext("Invitation sent to %(email)s. The link works for 7 days.", email=view.email),
            "success",
        )
    return redirect(url_for("officer.person", person_id=view.id))


@bp.route("/invitations/<int:person_id>/resend", methods=["POST"])
@page_requires(*OFFICERS)
def resend(person_id: int) -> Any:
    """Send a new invitation link; the old one stops working."""
    who = _who()
    out = outgoing()
    try:
        _, message = current_services().db.run(
            lambda s: people.resend_invitation(s, who, out, person_id)
        )
    except CreditsError as exc:
        info = form_error(exc)
        return _person_page(person_id, info.pop("status"), **info)
    problems = deliver([message])
    for problem in problems:
        flash(str(translate(problem)), "error")
    if not problems:
        flash(gettext("A new invitation was sent to %(email)s.", email=message.to), "success")
    return redirect(url_for("officer.person", person_id=person_id))


@bp.route("/invitations/<int:person_id>/withdraw", methods=["POST"])
@page_requires(*OFFICERS)
def withdraw(person_id: int) -> Any:
    """Withdraw an invitation (the person is disabled)."""
    who = _who()
    reason = read_form(ReasonForm)["reason"]
    return _act(
        person_id,
        lambda s: people.withdraw_invitation(s, who, person_id, reason),
        T("Invitation withdrawn: the link no longer works."),
    )


# --- tokens ----------------------------------------------------------------------------------


@bp.route("/tokens")
@page_requires(*OFFICERS)
def all_tokens() -> Any:
    """Everyone's API tokens, newest first."""
    person_id = _int_arg("person_id")
    active_arg = request.args.get("active", "")
    active = {"yes": True, "no": False}.get(active_arg)

    def read(s: Any) -> tuple[Any, dict[int, str]]:
        found = tokens.list_tokens(
            s, person_id=person_id, active=active, page=_page(), per_page=PER_PAGE
        )
        return found, tokens.holders(s, found.items)

    found, names = current_services().db.run(read)
    return _render(
        "officer/tokens.html", found=found, names=names, person_id=person_id, active=active_arg
    )


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@page_requires(*OFFICERS)
def revoke_token(token_id: int) -> Any:
    """Revoke anyone's token, now."""
    who = _who()
    back = read_form(BackForm)["back"]
    try:
        token = current_services().db.run(lambda s: tokens.revoke(s, who, token_id, own_only=False))
    except CreditsError as exc:
        flash(capfirst(exc.detail), "error")
    else:
        flash(gettext("The token “%(name)s” is revoked.", name=token.name), "success")
    if back.startswith("/officer/") and not back.startswith("//"):
        return redirect(back)
    return redirect(url_for("officer.all_tokens"))


# --- audit log -------------------------------------------------------------------------------


def _day(raw: str, field: str) -> datetime | None:
    """A date from a form (YYYY-MM-DD), as the start of that day in London, in UTC."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()  # noqa: DTZ007 - a date, not a time
    except ValueError:
        raise ValidationFailed(
            T("“%(value)s” is not a date", value=raw),
            errors={field: [T("Use the form 2026-11-30.")]},
        ) from None
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


@bp.route("/audit")
@page_requires(*OFFICERS)
def audit_log() -> Any:
    """The audit log, filtered by action, person and dates (London days, inclusive)."""
    filters = {
        "action": request.args.get("action", "")[:60],
        "person_id": request.args.get("person_id", "")[:20],
        "date_from": request.args.get("date_from", "")[:10],
        "date_to": request.args.get("date_to", "")[:10],
    }
    try:
        since = _day(filters["date_from"], "date_from")
        until = _day(filters["date_to"], "date_to")
        if until is not None:
            until = until + timedelta(days=1)  # "to 30 November" includes the 30th
        person_id = None
        if filters["person_id"].strip():
            if not filters["person_id"].strip().isdigit():
                raise ValidationFailed(
                    T("person must be a number"),
                    errors={"person_id": [T("Give the person's number.")]},
                )
            person_id = int(filters["person_id"])
        with current_services().db.read(lag_ok=True) as s:  # history: the replica, if there is one
            found = audit.list_events(
                s,
                action=filters["action"] or None,
                person_id=person_id,
                since=since,
                until=until,
                page=_page(),
                per_page=50,
            )
    except CreditsError as exc:
        info = form_error(exc)
        status = info.pop("status")
        return _render(
            "officer/audit.html", status, found=None, filters=filters, actions=audit.ACTIONS, **info
        )
    return _render("officer/audit.html", found=found, filters=filters, actions=audit.ACTIONS)
