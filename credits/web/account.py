"""Pages a resident uses for their own account: register, confirm their email address,
accept an invitation, reset a forgotten password, and manage their API tokens.

Links in emails open a page with a button or a form (GET never uses up a link: mail
scanners that follow links must not spend them). The link's token leaves the URL at the first
request (:func:`_link_token`). Every form carries csrf_token(); errors are
summarised at the top of the page with role="alert" and nothing is changed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from credits import i18n
from credits.accounts import onboarding, tokens
from credits.accounts.links import LinkPurpose
from credits.accounts.people import remember_language, view_person
from credits.accounts.sessions import ROLE_PRIORITY
from credits.api.context import current_services
from credits.api.inputs import page_number
from credits.api.problems import status_of
from credits.api.requestinfo import client_ip, deliver_quietly, outgoing
from credits.errors import CreditsError
from credits.i18n import T
from credits.web.auth import SESSION_COOKIE, current_principal, held_roles, page_requires
from credits.web.forms import Cut, PageForm, read_form, submit
from credits.web.i18n import gettext, page_language

bp = Blueprint("account", __name__)

PEOPLE_ROLES = tuple(ROLE_PRIORITY)


def form_error(exc: CreditsError) -> dict[str, Any]:
    """What templates need to show an error: the summary and the messages per field."""
    errors = exc.extra.get("errors") or {}
    return {"error": exc.detail, "field_errors": errors, "status": status_of(exc)}


#: The emailed link's token, carried in the form's body.
LinkForm = PageForm.from_dict({"token": Cut(None, load_default=None)}, name="LinkForm")
RegisterForm = PageForm.from_dict(
    {k: Cut(300) for k in ("name", "email", "phone", "password")}, name="RegisterForm"
)
NewPasswordForm = PageForm.from_dict(
    {"password": Cut(300), "password_again": Cut(300)}, name="NewPasswordForm"
)
EmailForm = PageForm.from_dict({"email": Cut(300)}, name="EmailForm")
TokenForm = PageForm.from_dict({"name": Cut(200), "role": Cut(None)}, name="TokenForm")


def _shown(form: dict[str, Any]) -> dict[str, Any]:
    """A registration form's values to show again: never the password."""
    return {k: form.get(k, "") for k in ("name", "email", "phone")}


def _render(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Any:
    return render_template(template, **context), status, headers or {}


def _failed(template: str, exc: CreditsError, **context: Any) -> Any:
    info = form_error(exc)
    return _render(
        template,
        info.pop("status"),
        getattr(exc, "headers", None),
        **info,
        **context,
    )


def _link_token() -> tuple[str, Any]:
    """The emailed link's token, and a redirect to answer with instead of the page (or None).

    A link arrives as ``?token=…``. The first request puts the token in the (signed) session
    cookie and sends the browser on to the same page without it (303), so that the token is
    in no later URL: not the address bar, the history, a ``Referer`` header, or an access
    log line (credits/web_server.py redacts the first request's). The form then carries it
    in its body. Nothing is looked up or spent by the redirect.
    """
    key = f"link:{request.endpoint}"
    if "token" in request.args:
        session[key] = request.args.get("token", "")[:200]
        return "", redirect(url_for(request.endpoint or "web.index"), 303)
    token = read_form(LinkForm)["token"] if request.method == "POST" else None
    return (token or session.get(key) or "")[:200], None


def _forget_link() -> None:
    session.pop(f"link:{request.endpoint}", None)


# --- registration ----------------------------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    """A resident registers; they confirm their email, then an officer approves them."""
    if request.method == "GET":
        return _render("account/register.html", form=_shown(read_form(RegisterForm)))
    ip = client_ip()
    svc = current_services()

    def register(form: dict[str, Any]) -> Any:
        svc.db.run(lambda s: onboarding.throttle_registration(s, form["email"], ip))
        password = onboarding.NewPassword.make(form["password"], svc.settings.password_hash_profile)
        out = outgoing()
        return svc.db.run(
            lambda s: onboarding.register(
                s,
                out,
                name=form["name"],
                email=form["email"],
                phone=form["phone"],
                password=password,
                ip=ip,
            )
        )

    sent = submit(RegisterForm, register)
    if sent.refusal is not None:
        return _failed("account/register.html", sent.refusal, form=_shown(sent.values))
    deliver_quietly(sent.result)
    return redirect(url_for("account.registered"))


@bp.route("/register/sent")
def registered() -> Any:
    """What happens next after registering."""
    return _render("account/registered.html")


@bp.route("/register/confirm", methods=["GET", "POST"])
def confirm_email() -> Any:
    """Confirm an email address from the link we sent (a button: GET changes nothing)."""
    token, moved = _link_token()
    if moved is not None:
        return moved
    ip = client_ip()
    try:
        # Every look at a link counts, valid or not (GET and POST): see credits.ratelimit.
        current_services().db.run(lambda s: onboarding.throttle_link(s, token, ip))
        if request.method == "GET":
            current_services().db.run(
                lambda s: onboarding.links.find_link(s, token, LinkPurpose.CONFIRM_EMAIL)
            )
            return _render("account/confirm_email.html", token=token)
        current_services().db.run(lambda s: onboarding.confirm_email(s, token, ip))
    except CreditsError as exc:
        return _failed(
            "account/link_problem.html", exc, heading=gettext("Confirm your email address")
        )
    _forget_link()
    return _render("account/email_confirmed.html")


# --- invitations -----------------------------------------------------------------------------


@bp.route("/invitation", methods=["GET", "POST"])
def accept_invitation() -> Any:
    """Accept an invitation: choose a password, then sign in."""
    token, moved = _link_token()
    if moved is not None:
        return moved
    ip = client_ip()
    svc = current_services()
    try:
        svc.db.run(lambda s: onboarding.throttle_link(s, token, ip))
        person = svc.db.run(lambda s: onboarding.invitation_for(s, token))
    except CreditsError as exc:
        return _failed("account/link_problem.html", exc, heading=gettext("Accept your invitation"))
    if request.method == "GET":
        return _render("account/accept_invitation.html", token=token, person=person)
    try:
        password = _new_password()
        svc.db.run(lambda s: onboarding.accept_invitation(s, token, password, ip=ip))
    except CreditsError as exc:
        return _failed("account/accept_invitation.html", exc, token=token, person=person)
    _forget_link()
    # Unless the inviting officer chose their language, it is the one they accepted in.
    person_id = person.id
    svc.db.run(lambda s: remember_language(s, person_id, page_language() or i18n.DEFAULT))
    flash(gettext("Your password is set. Sign in to start."), "success")
    return redirect(url_for("auth.sign_in"))


def _new_password() -> onboarding.NewPassword:
    form = read_form(NewPasswordForm)
    password, again = form["password"], form["password_again"]
    if password != again:
        from credits.errors import ValidationFailed

        raise ValidationFailed(
            T("the two passwords are different"),
            errors={"password_again": [T("Type the same password twice.")]},
        )
    return onboarding.NewPassword.make(password, current_services().settings.password_hash_profile)


# --- forgotten passwords ---------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> Any:
    """Ask for a reset link. The answer is the same whether or not the address is known."""
    if request.method == "GET":
        return _render("account/forgot_password.html", email="")
    email = read_form(EmailForm)["email"]
    ip = client_ip()
    svc = current_services()
    if not email.strip():
        from credits.errors import ValidationFailed

        return _failed(
            "account/forgot_password.html",
            ValidationFailed(
                T("enter your email address"), errors={"email": [T("Enter your email address.")]}
            ),
            email=email,
        )
    try:
        svc.db.run(lambda s: onboarding.throttle_reset_request(s, email, ip))
        out = outgoing()
        messages = svc.db.run(lambda s: onboarding.request_password_reset(s, out, email, ip=ip))
    except CreditsError as exc:
        return _failed("account/forgot_password.html", exc, email=email)
    deliver_quietly(messages)
    return _render("account/reset_sent.html", email=email.strip())


@bp.route("/password/reset", methods=["GET", "POST"])
def reset_password() -> Any:
    """Choose a new password with the emailed link; signs out every other session."""
    token, moved = _link_token()
    if moved is not None:
        return moved
    ip = client_ip()
    svc = current_services()
    try:
        svc.db.run(lambda s: onboarding.throttle_link(s, token, ip))
        person = svc.db.run(lambda s: onboarding.reset_for(s, token))
    except CreditsError as exc:
        return _failed("account/link_problem.html", exc, heading=gettext("Choose a new password"))
    if request.method == "GET":
        return _render("account/reset_password.html", token=token, person=person)
    try:
        password = _new_password()
        out = outgoing()
        _, messages = svc.db.run(
            lambda s: onboarding.reset_password(s, out, token, password, ip=ip)
        )
    except CreditsError as exc:
        return _failed("account/reset_password.html", exc, token=token, person=person)
    deliver_quietly(messages)
    _forget_link()
    flash(
        gettext("Your new password is set, and you have been signed out everywhere. Sign in."),
        "success",
    )
    response = redirect(url_for("auth.sign_in"))
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- your account and API tokens -------------------------------------------------------------


@bp.route("/account")
@page_requires(*PEOPLE_ROLES)
def overview() -> Any:
    """Your details and roles."""
    who = current_principal()
    assert who is not None and who.person_id is not None
    person_id = who.person_id
    person = current_services().db.run(lambda s: view_person(s, person_id))
    return _render("account/overview.html", person=person)


@bp.route("/account/tokens", methods=["GET", "POST"])
@page_requires(*PEOPLE_ROLES)
def my_tokens() -> Any:
    """List your API tokens; make a new one (its secret is shown once, on this page)."""
    who = current_principal()
    assert who is not None and who.person_id is not None
    person_id = who.person_id
    form = {"name": "", "role": ""}
    created = None
    failure: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        sent = submit(
            TokenForm,
            lambda form: current_services().db.run(
                lambda s: tokens.create_own_token(
                    s, who, name=form["name"], role=form["role"], any_held_role=True
                )
            ),
        )
        if sent.refusal is None:
            token, secret = sent.result
            created = {"token": token, "secret": secret}
        else:
            form = sent.values
            failure = form_error(sent.refusal)
            status = failure.pop("status")
    page = _page_arg()
    found = current_services().db.run(
        lambda s: tokens.list_tokens(s, person_id=person_id, page=page, per_page=20)
    )
    return _render(
        "account/tokens.html",
        status,
        tokens=found,
        created=created,
        form=form,
        roles=held_roles(),
        **failure,
    )


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@page_requires(*PEOPLE_ROLES)
def revoke_my_token(token_id: int) -> Any:
    """Revoke one of your own tokens."""
    who = current_principal()
    assert who is not None
    try:
        token = current_services().db.run(lambda s: tokens.revoke(s, who, token_id, own_only=True))
    except CreditsError as exc:
        if status_of(exc) == 404:
            abort(404)
        raise
    flash(
        gettext("The token “%(name)s” is revoked: it no longer works.", name=token.name), "success"
    )
    return redirect(url_for("account.my_tokens"))


def _page_arg() -> int:
    return page_number(request.args.get("page"))
