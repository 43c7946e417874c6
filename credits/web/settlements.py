"""Officer pages for settlement (/officer/settlements) and the shop's remittance pages
(/shop/remittances).

    /officer/settlements                           runs; start a run for a closed month
    /officer/settlements/<id>                      a run: lines, approve, cancel, files
    /officer/settlements/<id>/files/<fmt>[.sig]    the payments file (csv, pain.001) and its
                                                   signature
    /officer/settlements/<id>/remittances/<shop>   a shop's remittance (and .pdf)
    /officer/settlements/payees                    every shop's bank details; pending changes
    /officer/settlements/payees/<shop>             a shop's details, history, change form
    /officer/settlements/payee-changes/<id>/approve|reject
    /officer/settlements/bank                      import a bank statement; past imports
    /officer/settlements/bank/<id>                 an import: its transactions and mismatches
    /officer/settlements/mismatches/<id>           a mismatch; resolve it with a reason
    /shop/remittances, /shop/remittances/<run>[.pdf]   shop staff: their own shop's

Views run no SQL: every read and write is a use case of credits.settlement. Every form
carries the CSRF token; a refusal is shown on the page and changes nothing. Officers only
(bank details are shown in full to officers alone, so not to admins).
"""

from __future__ import annotations

import secrets
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from credits.accounts import Role
from credits.api.context import current_services
from credits.errors import CreditsError
from credits.i18n import T, Text, Tp, translate
from credits.ledger import closed_months
from credits.settlement import bankfile, files, payees, reconciliation, remittance, runs
from credits.statements import signing
from credits.web.account import form_error
from credits.web.auth import current_principal, page_requires
from credits.web.forms import Cut, PageForm, submit
from credits.web.i18n import gettext

bp = Blueprint("settlement_pages", __name__, url_prefix="/officer/settlements")
RunForm = PageForm.from_dict({"month": Cut(7), "idempotency_key": Cut(200)}, name="RunForm")
ApproveForm = PageForm.from_dict({"settled_on": Cut(10)}, name="ApproveForm")
ReasonForm = PageForm.from_dict({"reason": Cut(600)}, name="ReasonForm")
ResolutionForm = PageForm.from_dict({"resolution": Cut(600)}, name="ResolutionForm")
PayeeForm = PageForm.from_dict(
    {k: Cut(300) for k in ("legal_name", "sort_code", "account_number", "iban", "reason")},
    name="PayeeForm",
)
shop_bp = Blueprint("remittances", __name__, url_prefix="/shop")

FORMAT_LABELS = {"csv": T("CSV (spreadsheet)"), "pain.001": T("ISO 20022 pain.001 (XML)")}

#: The words for the codes these pages show, by what they are the code of.
LABELS: dict[str, dict[str, Text]] = {
    "run": {
        "pending": Tp("settlement run state", "Pending"),
        "approved": Tp("settlement run state", "Approved"),
        "paid": Tp("settlement run state", "Paid"),
        "cancelled": Tp("settlement run state", "Cancelled"),
    },
    "payee": {
        "pending": Tp("bank details status", "Pending"),
        "active": Tp("bank details status", "Active"),
        "superseded": Tp("bank details status", "Superseded"),
        "rejected": Tp("bank details status", "Rejected"),
    },
    "mismatch": {
        "missing": Tp("bank mismatch", "Missing"),
        "unexpected": Tp("bank mismatch", "Unexpected"),
        "amount_differs": Tp("bank mismatch", "Amount differs"),
    },
    "outcome": {
        "matched": Tp("bank line outcome", "matched"),
        "amount_differs": Tp("bank line outcome", "amount differs"),
        "unexpected": Tp("bank line outcome", "unexpected"),
        "ignored": Tp("bank line outcome", "ignored"),
    },
}


def label_of(kind: str, code: Any) -> str:
    """The word for a run's state, bank details' status, a mismatch's kind or a bank line's
    outcome (``label_of('run', 'paid')``) in the page's language."""
    found = LABELS[kind].get(str(code))
    if found is not None:
        return str(translate(found))
    word = str(code).replace("_", " ")
    return word if kind == "outcome" else word.capitalize()


@bp.context_processor
def _words() -> dict[str, Any]:
    return {"label_of": label_of}


def _who() -> Any:
    who = current_principal()
    assert who is not None
    return who


def _page() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def allow_large_body(limit: int) -> Any:
    """Let a page accept a body up to ``limit`` bytes (a bank statement file) instead of the
    app's small default; the CSRF check reads the form with this limit too."""

    def decorator(view: Any) -> Any:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        wrapper.max_body_bytes = limit  # type: ignore[attr-defined]
        return wrapper

    return decorator


# --- runs ---------------------------------------------------------------------------------


def _index(status: int = 200, **extra: Any) -> Any:
    def read(s: Any) -> dict[str, Any]:
        found = runs.list_runs(s, page=_page(), per_page=25)
        live = {r.month for r in runs.list_runs(s, per_page=100).items if r.state != "cancelled"}
        months = [m for m in reversed(closed_months(s)) if m not in live]
        open_items = reconciliation.mismatches(s, open_only=True, limit=200)
        return {"found": found, "months": months, "open_mismatches": len(open_items)}

    policy = runs.Policy.from_settings(current_services().settings)
    return (
        render_template(
            "settlements/index.html",
            policy=policy,
            key=secrets.token_urlsafe(16),
            pounds=remittance.pounds,
            **current_services().db.run(read),
            **extra,
        ),
        status,
    )


@bp.route("")
@page_requires(Role.OFFICER)
def index() -> Any:
    """Settlement runs newest first, and the form to start one for a closed month."""
    return _index()


@bp.route("", methods=["POST"])
@page_requires(Role.OFFICER)
def create() -> Any:
    """Start a run (the form carries a fresh idempotency key: a double click starts one)."""
    who = _who()
    policy = runs.Policy.from_settings(current_services().settings)
    sent = submit(
        RunForm,
        lambda form: current_services().db.run(
            lambda s: runs.create_run(
                s, who, month=form["month"], idempotency_key=form["idempotency_key"], policy=policy
            )
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        month = sent.values.get("month", "")
        return _index(info.pop("status"), picked=month, problem=sent.refusal.extra, **info)
    run = sent.result
    flash(
        gettext("Run %(reference)s is ready: check it, then approve it.", reference=run.reference),
        "success",
    )
    return redirect(url_for("settlement_pages.run", run_id=run.id))


def _run_page(run_id: int, status: int = 200, **extra: Any) -> Any:
    who = _who()
    run = current_services().db.run(lambda s: runs.load_run(s, run_id))
    can_approve = run.state == "pending" and not (
        run.needs_second_approver and run.created_by_person_id == who.person_id
    )
    return (
        render_template(
            "settlements/run.html",
            run=run,
            can_approve=can_approve,
            formats=FORMAT_LABELS,
            pounds=remittance.pounds,
            **extra,
        ),
        status,
    )


@bp.route("/<int:run_id>")
@page_requires(Role.OFFICER)
def run(run_id: int) -> Any:
    """A run: each shop paid or rolled over, and what can be done with it."""
    return _run_page(run_id)


@bp.route("/<int:run_id>/approve", methods=["POST"])
@page_requires(Role.OFFICER)
def approve(run_id: int) -> Any:
    """Approve the run: the settlement entries are posted and remittances emailed."""
    from credits.api.requestinfo import deliver
    from credits.api.settlements import remittance_mail

    who = _who()
    context = remittance_mail()
    sent = submit(
        ApproveForm,
        lambda form: current_services().db.run(
            lambda s: runs.approve_run(
                s, who, run_id, settled_on=form["settled_on"] or None, mailer_context=context
            )
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        settled_on = sent.values.get("settled_on") or None
        return _run_page(run_id, info.pop("status"), settled_on=settled_on, **info)
    _, messages = sent.result
    for problem in deliver(messages):
        flash(str(translate(problem)), "error")
    flash(
        gettext("Approved: the shops' credits are settled and their remittances sent."), "success"
    )
    return redirect(url_for("settlement_pages.run", run_id=run_id))


@bp.route("/<int:run_id>/cancel", methods=["POST"])
@page_requires(Role.OFFICER)
def cancel(run_id: int) -> Any:
    """Cancel a run that waits for approval, saying why."""
    who = _who()
    sent = submit(
        ReasonForm,
        lambda form: current_services().db.run(
            lambda s: runs.cancel_run(s, who, run_id, reason=form["reason"])
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        reason = sent.values.get("reason", "")
        return _run_page(run_id, info.pop("status"), reason=reason, **info)
    flash(gettext("Cancelled: the month can be settled by a new run."), "success")
    return redirect(url_for("settlement_pages.run", run_id=run_id))


def _file(run_id: int, fmt: str) -> files.PaymentsFile:
    svc = current_services()
    if fmt not in files.FORMATS:
        abort(404)
    with svc.db.read() as s:
        return files.payments_file(s, run_id, fmt, settings=svc.settings)


@bp.route("/<int:run_id>/files/<fmt>")
@page_requires(Role.OFFICER)
def payments_file(run_id: int, fmt: str) -> Any:
    """The payments file: the same bytes the API serves."""
    try:
        file = _file(run_id, fmt)
    except CreditsError as exc:
        info = form_error(exc)
        return _run_page(run_id, info.pop("status"), **info)
    return Response(
        file.data,
        content_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@bp.route("/<int:run_id>/files/<fmt>.sig")
@page_requires(Role.OFFICER)
def payments_file_signature(run_id: int, fmt: str) -> Any:
    """The payments file's detached signature (the statement key)."""
    try:
        file = _file(run_id, fmt)
    except CreditsError as exc:
        info = form_error(exc)
        return _run_page(run_id, info.pop("status"), **info)
    line = signing.sign(current_services().settings.instance_path, file.data) + "\n"
    return Response(
        line,
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{file.filename}.sig"'},
    )


# --- remittances --------------------------------------------------------------------------


def _remittance_page(run_id: int, shop_id: int, *, officer: bool) -> Any:
    with current_services().db.read() as s:
        r = remittance.remittance(s, run_id, shop_id)
    return render_template(
        "settlements/remittance_officer.html" if officer else "settlements/remittance_shop.html",
        r=r,
        officer=officer,
        council=current_services().settings.council_name,
        pounds=remittance.pounds,
    )


def _remittance_pdf(run_id: int, shop_id: int) -> Response:
    with current_services().db.read() as s:
        r = remittance.remittance(s, run_id, shop_id)
    return Response(
        remittance.pdf_bytes(r, council=current_services().settings.council_name),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="remittance-{r.payment_reference}.pdf"'},
    )


@bp.route("/<int:run_id>/remittances/<int:shop_id>")
@page_requires(Role.OFFICER)
def officer_remittance(run_id: int, shop_id: int) -> Any:
    """A shop's remittance advice, as the shop sees it."""
    return _remittance_page(run_id, shop_id, officer=True)


@bp.route("/<int:run_id>/remittances/<int:shop_id>.pdf")
@page_requires(Role.OFFICER)
def officer_remittance_pdf(run_id: int, shop_id: int) -> Any:
    """A shop's remittance advice as a PDF."""
    return _remittance_pdf(run_id, shop_id)


def _own_shop() -> int:
    shop = remittance.readable_shop(_who(), None)
    assert shop is not None
    return shop


@shop_bp.route("/remittances")
@page_requires(Role.SHOP_STAFF)
def index_for_shop() -> Any:
    """The shop's remittances, newest first."""
    shop = _own_shop()
    found = current_services().db.run(
        lambda s: remittance.list_remittances(s, shop_id=shop, page=_page(), per_page=25)
    )
    return render_template("settlements/shop_remittances.html", found=found)


@shop_bp.route("/remittances/<int:run_id>")
@page_requires(Role.SHOP_STAFF)
def show(run_id: int) -> Any:
    """The shop's remittance advice for a run (printable)."""
    return _remittance_page(run_id, _own_shop(), officer=False)


@shop_bp.route("/remittances/<int:run_id>.pdf")
@page_requires(Role.SHOP_STAFF)
def show_pdf(run_id: int) -> Any:
    """The shop's remittance advice as a PDF."""
    return _remittance_pdf(run_id, _own_shop())


# --- payees -------------------------------------------------------------------------------


@bp.route("/payees")
@page_requires(Role.OFFICER)
def payee_list() -> Any:
    """Every shop's bank details, and the changes waiting for a second officer."""
    rows = current_services().db.run(lambda s: payees.overview(s, officer=True))
    return render_template("settlements/payees.html", rows=rows, me=_who().person_id)


def _payee_page(shop_id: int, status: int = 200, **extra: Any) -> Any:
    from credits.shops import get_shop

    def read(s: Any) -> dict[str, Any]:
        return {"shop": get_shop(s, shop_id), "history": payees.history(s, shop_id, officer=True)}

    return (
        render_template(
            "settlements/payee.html",
            me=_who().person_id,
            **current_services().db.run(read),
            **extra,
        ),
        status,
    )


@bp.route("/payees/<int:shop_id>")
@page_requires(Role.OFFICER)
def payee(shop_id: int) -> Any:
    """A shop's bank details, their history, and the form to change them."""
    return _payee_page(shop_id, form={})


@bp.route("/payees/<int:shop_id>", methods=["POST"])
@page_requires(Role.OFFICER)
def request_payee(shop_id: int) -> Any:
    """Enter new bank details: they wait for another officer's approval."""
    who = _who()
    sent = submit(
        PayeeForm,
        lambda form: current_services().db.run(
            lambda s: payees.request_change(
                s,
                who,
                shop_id,
                legal_name=form["legal_name"],
                reason=form["reason"],
                sort_code=form["sort_code"] or None,
                account_number=form["account_number"] or None,
                iban=form["iban"] or None,
            )
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        return _payee_page(shop_id, info.pop("status"), form=sent.values, **info)
    flash(
        gettext("Saved. Another officer must approve these details before anything is paid."),
        "success",
    )
    return redirect(url_for("settlement_pages.payee", shop_id=shop_id))


def _decide(payee_id: int, action: str) -> Any:
    who = _who()
    try:
        found = current_services().db.run(lambda s: payees.get_change(s, payee_id))
    except CreditsError:
        abort(404)

    def decide(form: dict[str, Any]) -> None:
        if action == "approve":
            current_services().db.run(lambda s: payees.approve_change(s, who, payee_id))
        else:
            current_services().db.run(
                lambda s: payees.reject_change(s, who, payee_id, reason=form["reason"])
            )

    sent = submit(ReasonForm, decide)
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        return _payee_page(found.shop_id, info.pop("status"), form={}, **info)
    if action == "approve":
        flash(gettext("Approved: these are now the shop's bank details."), "success")
    else:
        flash(gettext("Rejected."), "success")
    return redirect(url_for("settlement_pages.payee", shop_id=found.shop_id))


@bp.route("/payee-changes/<int:payee_id>/approve", methods=["POST"])
@page_requires(Role.OFFICER)
def approve_payee(payee_id: int) -> Any:
    """A second officer approves pending bank details."""
    return _decide(payee_id, "approve")


@bp.route("/payee-changes/<int:payee_id>/reject", methods=["POST"])
@page_requires(Role.OFFICER)
def reject_payee(payee_id: int) -> Any:
    """Reject pending bank details, saying why."""
    return _decide(payee_id, "reject")


# --- the bank -----------------------------------------------------------------------------


def _bank_page(status: int = 200, **extra: Any) -> Any:
    found = current_services().db.run(
        lambda s: reconciliation.list_imports(s, page=_page(), per_page=25)
    )
    return render_template("settlements/bank.html", found=found, **extra), status


@bp.route("/bank")
@page_requires(Role.OFFICER)
def bank() -> Any:
    """Import a bank statement; the statements imported so far."""
    return _bank_page()


@bp.route("/bank", methods=["POST"])
@page_requires(Role.OFFICER)
@allow_large_body(bankfile.MAX_BYTES + 64 * 1024)
def bank_import() -> Any:
    """Import and reconcile an uploaded bank statement (camt.053 or CSV)."""
    who = _who()
    upload = request.files.get("statement")
    if upload is None or not upload.filename:
        return _bank_page(422, error=gettext("Choose the bank statement file to import."))
    data = upload.read(bankfile.MAX_BYTES + 1)
    name = upload.filename
    try:
        result = current_services().db.run(
            lambda s: reconciliation.import_statement(s, who, data, filename=name)
        )
    except CreditsError as exc:
        info = form_error(exc)
        return _bank_page(info.pop("status"), **info)
    if result.replayed:
        flash(gettext("This file was imported before: here is what it showed."), "info")
    return redirect(url_for("settlement_pages.bank_result", import_id=result.id))


@bp.route("/bank/<int:import_id>")
@page_requires(Role.OFFICER)
def bank_result(import_id: int) -> Any:
    """One import: the summary, each transaction's outcome, and its mismatches."""

    def read(s: Any) -> dict[str, Any]:
        return {
            "result": reconciliation.load_import(s, import_id),
            "lines": reconciliation.import_lines(s, import_id),
        }

    return render_template(
        "settlements/bank_result.html", pounds=remittance.pounds, **current_services().db.run(read)
    )


def _mismatch_page(mismatch_id: int, status: int = 200, **extra: Any) -> Any:
    found = current_services().db.run(lambda s: reconciliation.load_mismatch(s, mismatch_id))
    return (
        render_template("settlements/mismatch.html", m=found, pounds=remittance.pounds, **extra),
        status,
    )


@bp.route("/mismatches/<int:mismatch_id>")
@page_requires(Role.OFFICER)
def mismatch(mismatch_id: int) -> Any:
    """A bank mismatch, and the form to record how it was resolved."""
    return _mismatch_page(mismatch_id)


@bp.route("/mismatches/<int:mismatch_id>/resolve", methods=["POST"])
@page_requires(Role.OFFICER)
def resolve(mismatch_id: int) -> Any:
    """Record how a mismatch was resolved (who, when, why)."""
    who = _who()
    sent = submit(
        ResolutionForm,
        lambda form: current_services().db.run(
            lambda s: reconciliation.resolve_mismatch(
                s, who, mismatch_id, resolution=form["resolution"]
            )
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        resolution = sent.values.get("resolution", "")
        return _mismatch_page(mismatch_id, info.pop("status"), resolution=resolution, **info)
    flash(gettext("Recorded how the mismatch was resolved."), "success")
    return redirect(url_for("settlement_pages.mismatch", mismatch_id=mismatch_id))
