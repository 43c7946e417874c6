"""Settling closed months with the shops (credits/settlement, docs/settlement.md).

POST /api/v1/settlements                              officer: start a run for a closed month
GET  /api/v1/settlements                              officer: runs, newest first
GET  /api/v1/settlements/{id}                         officer: a run with its lines
POST /api/v1/settlements/{id}/approve                 officer (a second one above the threshold)
POST /api/v1/settlements/{id}/cancel                  officer: a pending run, with a reason
GET  /api/v1/settlements/{id}/files/{format}          officer: csv or pain.001, signed
GET  /api/v1/settlements/remittances                  officer (?shop=), terminal, shop staff
GET  /api/v1/settlements/{id}/remittances/{shop_id}   the same: one remittance; ?format=pdf
GET  /api/v1/settlements/payees                       officer: every shop's bank details
GET  /api/v1/settlements/payees/{shop_id}             officer; the shop's staff and terminal
                                                      (masked)
POST /api/v1/settlements/payees/{shop_id}             officer: new details, pending (202)
POST /api/v1/settlements/payee-changes/{id}/approve   a second officer
POST /api/v1/settlements/payee-changes/{id}/reject    officer, with a reason
POST /api/v1/settlements/bank-statements              officer: a camt.053 or CSV file (the body)
GET  /api/v1/settlements/bank-statements              officer: imports, newest first
GET  /api/v1/settlements/bank-statements/{id}         officer: an import, its lines, mismatches
GET  /api/v1/settlements/mismatches                   officer: the bank mismatches
POST /api/v1/settlements/mismatches/{id}/resolve      officer, saying how
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request, url_for

from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.api.pagination import PageArgs, page_out, page_schema
from credits.settlement import bankfile, files, payees, reconciliation, remittance, runs
from credits.statements import signing

blp = Blueprint(
    "settlements",
    __name__,
    url_prefix="/api/v1/settlements",
    description="Paying the shops: settlement runs, payments files, remittances, the bank",
)

SHOP_SIDE = (Role.OFFICER, Role.TERMINAL, Role.SHOP_STAFF)
_KEY = [
    ma.validate.Length(1, 200),
    ma.validate.Regexp(r"^[\x20-\x7e]+$", error="Printable ASCII only."),
]


class SettlementRunIn(ma.Schema):
    month = inputs.String(
        required=True, metadata={"description": "the closed London month to settle, YYYY-MM"}
    )
    idempotency_key = inputs.String(required=True, validate=_KEY)


class SettlementApproveIn(ma.Schema):
    settled_on = inputs.Date(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "London date to date the settlement entries on (default: now); "
            "never in a closed month (409 period_closed) nor the future"
        },
    )


class SettlementReasonIn(ma.Schema):
    reason = inputs.String(required=True, validate=ma.validate.Length(1, 300))


class SettlementResolveIn(ma.Schema):
    resolution = inputs.String(required=True, validate=ma.validate.Length(1, 300))


class SettlementPayeeIn(ma.Schema):
    legal_name = inputs.String(required=True, validate=ma.validate.Length(1, 140))
    sort_code = inputs.String(load_default=None, allow_none=True)
    account_number = inputs.String(load_default=None, allow_none=True)
    iban = inputs.String(load_default=None, allow_none=True)
    reason = inputs.String(
        required=True,
        validate=ma.validate.Length(1, 300),
        metadata={"description": "why the details are set or changed (the shop's letter...)"},
    )


class SettlementLineOut(ma.Schema):
    id = inputs.Integer()
    shop_id = inputs.Integer()
    shop = inputs.String()
    status = inputs.String(metadata={"description": "payable or rolled_over"})
    credits = inputs.Integer()
    amount_pence = inputs.Integer()
    amount_gbp = inputs.String()
    breakdown = ma.fields.List(
        ma.fields.Dict(), metadata={"description": "[{month, credits, rate, pence}]"}
    )
    payee_id = inputs.Integer(allow_none=True)
    payment_reference = inputs.String(allow_none=True)
    entry_id = inputs.Integer(allow_none=True)
    paid_pence = inputs.Integer()
    paid_on = inputs.Date(allow_none=True)


class SettlementRunOut(ma.Schema):
    id = inputs.Integer()
    month = inputs.String()
    reference = inputs.String()
    state = inputs.String(metadata={"description": "pending, approved, paid or cancelled"})
    minimum_pence = inputs.Integer()
    four_eyes_pence = inputs.Integer()
    needs_second_approver = ma.fields.Boolean()
    total_credits = inputs.Integer()
    total_pence = inputs.Integer()
    total_gbp = inputs.String()
    payments = inputs.Integer()
    created_by = inputs.String()
    created_by_person_id = inputs.Integer()
    created_at = inputs.AwareDateTime()
    approved_by = inputs.String(allow_none=True)
    approved_by_person_id = inputs.Integer(allow_none=True)
    approved_at = inputs.AwareDateTime(allow_none=True)
    settled_at = inputs.AwareDateTime(allow_none=True)
    execution_date = inputs.Date(allow_none=True)
    paid_at = inputs.AwareDateTime(allow_none=True)
    cancelled_by = inputs.String(allow_none=True)
    cancelled_at = inputs.AwareDateTime(allow_none=True)
    cancel_reason = inputs.String(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(SettlementLineOut))
    replayed = ma.fields.Boolean()


class SettlementRunListArgs(PageArgs):
    state = inputs.String(validate=ma.validate.OneOf(["pending", "approved", "paid", "cancelled"]))
    month = inputs.String(validate=ma.validate.Regexp(r"^\d{4}-\d{2}$"))


class RemittanceListArgs(PageArgs):
    shop = inputs.Integer(
        validate=ma.validate.Range(1, 2**62), metadata={"description": "officers: one shop"}
    )


class SettlementFormatArgs(ma.Schema):
    format = inputs.String(load_default="json", validate=ma.validate.OneOf(["json", "pdf"]))


class SettlementMovementOut(ma.Schema):
    month = inputs.String()
    kind = inputs.String()
    at = inputs.AwareDateTime()
    london_time = inputs.String()
    voucher = inputs.String()
    amount = inputs.Integer()
    note = inputs.String()


class RemittanceOut(ma.Schema):
    run_id = inputs.Integer()
    run_reference = inputs.String()
    month = inputs.String()
    state = inputs.String()
    shop_id = inputs.Integer()
    shop = inputs.String()
    payee_name = inputs.String()
    account = inputs.String(metadata={"description": "masked"})
    payment_reference = inputs.String()
    credits = inputs.Integer()
    amount_pence = inputs.Integer()
    amount_gbp = inputs.String()
    breakdown = ma.fields.List(ma.fields.Dict())
    execution_date = inputs.Date(allow_none=True)
    settled_at = inputs.AwareDateTime(allow_none=True)
    paid_pence = inputs.Integer()
    paid_on = inputs.Date(allow_none=True)
    movements = ma.fields.List(ma.fields.Nested(SettlementMovementOut))


class SettlementPayeeOut(ma.Schema):
    id = inputs.Integer()
    shop_id = inputs.Integer()
    shop = inputs.String()
    legal_name = inputs.String()
    kind = inputs.String(metadata={"description": "uk (sort code and account) or iban"})
    account = inputs.String(metadata={"description": "masked"})
    account_full = inputs.String(
        allow_none=True, metadata={"description": "officers only; null for anyone else"}
    )
    status = inputs.String(metadata={"description": "pending, active, superseded, rejected"})
    reason = inputs.String()
    requested_by = inputs.String()
    requested_at = inputs.AwareDateTime()
    decided_by = inputs.String(allow_none=True)
    decided_at = inputs.AwareDateTime(allow_none=True)
    decision_reason = inputs.String(allow_none=True)


class ShopPayeesOut(ma.Schema):
    shop_id = inputs.Integer()
    shop = inputs.String()
    active = ma.fields.Nested(SettlementPayeeOut, allow_none=True)
    pending = ma.fields.Nested(SettlementPayeeOut, allow_none=True)
    history = ma.fields.List(ma.fields.Nested(SettlementPayeeOut))


class BankImportArgs(ma.Schema):
    filename = inputs.String(load_default="statement", validate=ma.validate.Length(1, 200))
    format = inputs.String(
        load_default=None,
        validate=ma.validate.OneOf(["camt053", "csv"]),
        metadata={"description": "default: XML is camt.053, anything else CSV"},
    )


class SettlementMismatchOut(ma.Schema):
    id = inputs.Integer()
    kind = inputs.String(metadata={"description": "missing, unexpected or amount_differs"})
    import_id = inputs.Integer()
    found_at = inputs.AwareDateTime()
    detail = inputs.String()
    shop_id = inputs.Integer(allow_none=True)
    shop = inputs.String(allow_none=True)
    run_id = inputs.Integer(allow_none=True)
    payment_reference = inputs.String(allow_none=True)
    bank_line_id = inputs.Integer(allow_none=True)
    expected_pence = inputs.Integer(allow_none=True)
    seen_pence = inputs.Integer(allow_none=True)
    resolved_at = inputs.AwareDateTime(allow_none=True)
    resolved_by = inputs.String(allow_none=True)
    resolution = inputs.String(allow_none=True)


class BankLineOut(ma.Schema):
    line_no = inputs.Integer()
    booked_on = inputs.Date()
    amount_pence = inputs.Integer(metadata={"description": "money out is negative"})
    reference = inputs.String(allow_none=True)
    text = inputs.String()
    counterparty = inputs.String()
    outcome = inputs.String(
        metadata={"description": "matched, amount_differs, unexpected or ignored"}
    )
    settlement_line_id = inputs.Integer(allow_none=True)
    counted_month = inputs.String(allow_none=True)


class BankImportOut(ma.Schema):
    id = inputs.Integer()
    filename = inputs.String()
    format = inputs.String()
    imported_at = inputs.AwareDateTime()
    imported_by = inputs.String()
    covers_to = inputs.Date(allow_none=True)
    lines = inputs.Integer()
    summary = ma.fields.Dict(
        metadata={
            "description": "matched, amount_differs, unexpected, ignored, duplicate, missing, "
            "payments_matched, runs_paid"
        }
    )
    replayed = ma.fields.Boolean()
    mismatches = ma.fields.List(ma.fields.Nested(SettlementMismatchOut))
    transactions = ma.fields.List(ma.fields.Nested(BankLineOut))


class SettlementMismatchArgs(ma.Schema):
    open = ma.fields.Boolean(load_default=False, metadata={"description": "only unresolved"})


# --- bodies -------------------------------------------------------------------------------


def _line(x: runs.LineView) -> dict[str, Any]:
    return {
        "id": x.id,
        "shop_id": x.shop_id,
        "shop": x.shop_name,
        "status": x.status,
        "credits": x.credits,
        "amount_pence": x.amount_pence,
        "amount_gbp": remittance.pounds(x.amount_pence).replace(",", ""),
        "breakdown": x.breakdown,
        "payee_id": x.payee_id,
        "payment_reference": x.reference,
        "entry_id": x.entry_id,
        "paid_pence": x.paid_pence,
        "paid_on": x.paid_on,
    }


def run_body(run: runs.RunView) -> dict[str, Any]:
    """The API body of a run."""
    return {
        **{
            k: getattr(run, k)
            for k in SettlementRunOut().fields
            if hasattr(run, k) and k != "lines"
        },
        "total_gbp": remittance.pounds(run.total_pence).replace(",", ""),
        "lines": [_line(x) for x in run.lines],
    }


def payee_body(p: payees.PayeeView) -> dict[str, Any]:
    """The API body of a version of a shop's bank details."""
    return {
        "id": p.id,
        "shop_id": p.shop_id,
        "shop": p.shop_name,
        "legal_name": p.legal_name,
        "kind": p.kind,
        "account": p.masked,
        "account_full": p.full,
        "status": p.status,
        "reason": p.reason,
        "requested_by": p.requested_by,
        "requested_at": p.requested_at,
        "decided_by": p.decided_by,
        "decided_at": p.decided_at,
        "decision_reason": p.decision_reason,
    }


def mismatch_body(m: reconciliation.MismatchView) -> dict[str, Any]:
    """The API body of a bank mismatch."""
    return {
        "id": m.id,
        "kind": m.kind,
        "import_id": m.import_id,
        "found_at": m.found_at,
        "detail": m.detail,
        "shop_id": m.shop_id,
        "shop": m.shop_name,
        "run_id": m.run_id,
        "payment_reference": m.payment_reference,
        "bank_line_id": m.bank_line_id,
        "expected_pence": m.expected_pence,
        "seen_pence": m.seen_pence,
        "resolved_at": m.resolved_at,
        "resolved_by": m.resolved_by,
        "resolution": m.resolution,
    }


def import_body(r: reconciliation.ImportResult, lines: list[dict[str, Any]] | None = None) -> Any:
    """The API body of a bank import."""
    return {
        "id": r.id,
        "filename": r.filename,
        "format": r.format,
        "imported_at": r.imported_at,
        "imported_by": r.imported_by,
        "covers_to": r.covers_to,
        "lines": r.lines,
        "summary": r.summary,
        "replayed": r.replayed,
        "mismatches": [mismatch_body(m) for m in r.mismatches],
        "transactions": lines or [],
    }


# --- runs ---------------------------------------------------------------------------------


@blp.route("", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(SettlementRunIn)
@blp.response(201, SettlementRunOut, description="The run, computed and waiting for approval.")
def create(args: dict[str, Any]) -> Any:
    """Start a settlement run for a closed month: what each shop is owed, nothing moves yet.

    409 `month_not_closed`, `already_settled`, `settlement_pending`, `payee_details_missing`
    (listing the shops), `rate_not_set`, `idempotency_conflict`. The same key and month
    again return the first run (`replayed`).
    """
    who = principal()
    svc = current_services()
    policy = runs.Policy.from_settings(svc.settings)
    run = svc.db.run(
        lambda s: runs.create_run(
            s, who, month=args["month"], idempotency_key=args["idempotency_key"], policy=policy
        )
    )
    return run_body(run), 201, {"Location": url_for("settlements.show", run_id=run.id)}


@blp.route("", methods=["GET"])
@require(Role.OFFICER)
@blp.arguments(SettlementRunListArgs, location="query")
@blp.response(200, page_schema(SettlementRunOut, "SettlementRunsPage"))
def list_all(args: dict[str, Any]) -> dict[str, Any]:
    """Settlement runs newest first (without their lines); `?state=`, `?month=`."""
    found = current_services().db.run(
        lambda s: runs.list_runs(
            s,
            state=args.get("state"),
            month=args.get("month"),
            page=args["page"],
            per_page=args["per_page"],
        )
    )
    return page_out(found, run_body)


@blp.route("/<int:run_id>", methods=["GET"])
@require(Role.OFFICER)
@blp.response(200, SettlementRunOut)
def show(run_id: int) -> dict[str, Any]:
    """A run with a line per shop: paid (with its payee and payment reference) or rolled
    over."""
    return run_body(current_services().db.run(lambda s: runs.load_run(s, run_id)))


@blp.route("/<int:run_id>/approve", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(SettlementApproveIn)
@blp.response(200, SettlementRunOut)
def approve(args: dict[str, Any], run_id: int) -> dict[str, Any]:
    """Approve a pending run: one settlement entry per paid shop; remittance emails go out.

    403 `second_approver_required` (above the four-eyes threshold, the officer who started
    it); 409 `already_settled`, `settlement_not_pending`, `payee_details_changed`,
    `period_closed` (a `settled_on` in a closed month).
    """
    from credits.api.requestinfo import deliver

    who = principal()
    svc = current_services()
    context = remittance_mail()
    run, messages = svc.db.run(
        lambda s: runs.approve_run(
            s, who, run_id, settled_on=args.get("settled_on"), mailer_context=context
        )
    )
    deliver(messages)
    return run_body(run)


@blp.route("/<int:run_id>/cancel", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(SettlementReasonIn)
@blp.response(200, SettlementRunOut)
def cancel(args: dict[str, Any], run_id: int) -> dict[str, Any]:
    """Cancel a run that waits for approval, saying why (409 `settlement_not_pending`)."""
    who = principal()
    return run_body(
        current_services().db.run(lambda s: runs.cancel_run(s, who, run_id, reason=args["reason"]))
    )


@blp.route("/<int:run_id>/files/<string:fmt>", methods=["GET"])
@require(Role.OFFICER)
@blp.doc(
    responses={
        "200": {
            "description": "The payments file (text/csv or application/xml), signed in the "
            "Statement-Signature header like statements.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/xml": {"schema": {"type": "string"}},
            },
        }
    }
)
@inputs.refuses(validation_error=422, settlement_not_approved=409, payer_account_missing=409)
def payments_file(run_id: int, fmt: str) -> Response:
    """The payments file of an approved run for the finance system: `csv` or `pain.001`
    (ISO 20022, validated against its XSD). 409 `settlement_not_approved`,
    `payer_account_missing`."""
    svc = current_services()
    with svc.db.read() as s:
        file = files.payments_file(s, run_id, fmt, settings=svc.settings)
    return Response(
        file.data,
        content_type=file.media_type,
        headers={
            signing.HEADER: files.sign_file(svc.settings.instance_path, file),
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "Cache-Control": "private, no-store",
        },
    )


# --- remittances --------------------------------------------------------------------------


def remittance_mail() -> remittance.RemittanceMail:
    """Who signs remittance emails and the link to a shop's remittance page."""
    settings = current_services().settings
    base = (settings.public_url or request.host_url).rstrip("/")

    def link(run_id: int, shop_id: int) -> str:
        return base + url_for("remittances.show", run_id=run_id)

    return remittance.RemittanceMail(council=settings.council_name, link=link)


@blp.route("/remittances", methods=["GET"])
@require(*SHOP_SIDE)
@blp.arguments(RemittanceListArgs, location="query")
@blp.response(200, page_schema(RemittanceOut, "RemittancesPage"))
def remittances(args: dict[str, Any]) -> dict[str, Any]:
    """Remittance advices newest first: a terminal's or shop staff's own shop; an officer's
    every shop (or `?shop=`)."""
    shop = remittance.readable_shop(principal(), args.get("shop"))
    found = current_services().db.run(
        lambda s: remittance.list_remittances(
            s, shop_id=shop, page=args["page"], per_page=args["per_page"]
        )
    )
    return page_out(found, remittance.as_dict)


@blp.route("/<int:run_id>/remittances/<int:shop_id>", methods=["GET"])
@require(*SHOP_SIDE)
@blp.arguments(SettlementFormatArgs, location="query")
@blp.response(200, RemittanceOut, description="JSON; with format=pdf, application/pdf.")
def remittance_one(args: dict[str, Any], run_id: int, shop_id: int) -> Any:
    """One shop's remittance advice for a run, with every redemption it pays for;
    `?format=pdf` for the printable copy. 403 for another shop's; 404 when the run does not
    pay that shop (or is not approved)."""
    remittance.readable_shop(principal(), shop_id)
    svc = current_services()
    with svc.db.read() as s:
        r = remittance.remittance(s, run_id, shop_id)
    if args["format"] == "pdf":
        return Response(
            remittance.pdf_bytes(r, council=svc.settings.council_name),
            mimetype="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="remittance-{r.payment_reference}.pdf"',
                "Cache-Control": "private, no-store",
            },
        )
    return remittance.as_dict(r)


# --- payees -------------------------------------------------------------------------------


@blp.route("/payees", methods=["GET"])
@require(Role.OFFICER)
@blp.response(200, ShopPayeesOut(many=True))
def payee_overview() -> list[dict[str, Any]]:
    """Every shop with its active bank details and any change waiting for approval."""
    rows = current_services().db.run(lambda s: payees.overview(s, officer=True))
    return [
        {
            "shop_id": r.shop_id,
            "shop": r.shop_name,
            "active": r.active and payee_body(r.active),
            "pending": r.pending and payee_body(r.pending),
            "history": [],
        }
        for r in rows
    ]


@blp.route("/payees/<int:shop_id>", methods=["GET"])
@require(*SHOP_SIDE)
@blp.response(200, ShopPayeesOut)
def payee_of_shop(shop_id: int) -> dict[str, Any]:
    """A shop's bank details and their history: in full for officers, masked for the shop's
    own staff and terminal."""
    who = principal()
    remittance.readable_shop(who, shop_id)
    officer = who.role is Role.OFFICER
    history = current_services().db.run(lambda s: payees.history(s, shop_id, officer=officer))
    active = next((p for p in history if p.status == "active"), None)
    pending = next((p for p in history if p.status == "pending"), None)
    name = history[0].shop_name if history else ""
    if not history:
        from credits.shops import get_shop

        name = current_services().db.run(lambda s: get_shop(s, shop_id).name)
    return {
        "shop_id": shop_id,
        "shop": name,
        "active": active and payee_body(active),
        "pending": pending and payee_body(pending),
        "history": [payee_body(p) for p in history],
    }


@blp.route("/payees/<int:shop_id>", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(SettlementPayeeIn)
@blp.response(
    202, SettlementPayeeOut, description="Stored pending: another officer must approve it."
)
def request_payee(args: dict[str, Any], shop_id: int) -> Any:
    """Enter a shop's (new) bank details: a UK sort code and account number (Vocalink's
    modulus check) or an IBAN. They wait for a second officer. 422 `invalid_bank_details`;
    409 `payee_change_pending`."""
    who = principal()
    view = current_services().db.run(
        lambda s: payees.request_change(
            s,
            who,
            shop_id,
            legal_name=args["legal_name"],
            reason=args["reason"],
            sort_code=args.get("sort_code"),
            account_number=args.get("account_number"),
            iban=args.get("iban"),
        )
    )
    return payee_body(view), 202


@blp.route("/payee-changes/<int:payee_id>/approve", methods=["POST"])
@require(Role.OFFICER)
@blp.response(200, SettlementPayeeOut)
def approve_payee(payee_id: int) -> dict[str, Any]:
    """Approve pending bank details (an officer other than the one who entered them: 403
    `second_approver_required`); they replace the shop's active details."""
    who = principal()
    return payee_body(current_services().db.run(lambda s: payees.approve_change(s, who, payee_id)))


@blp.route("/payee-changes/<int:payee_id>/reject", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(SettlementReasonIn)
@blp.response(200, SettlementPayeeOut)
def reject_payee(args: dict[str, Any], payee_id: int) -> dict[str, Any]:
    """Reject pending bank details, saying why."""
    who = principal()
    return payee_body(
        current_services().db.run(
            lambda s: payees.reject_change(s, who, payee_id, reason=args["reason"])
        )
    )


# --- the bank -----------------------------------------------------------------------------


@blp.route("/bank-statements", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(BankImportArgs, location="query")
@blp.doc(
    requestBody={
        "description": "The bank statement file itself: camt.053 XML or CSV "
        "(docs/settlement.md has the CSV columns), at most 20 MB.",
        "required": True,
        "content": {
            "application/xml": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
)
@blp.response(201, BankImportOut)
def import_statement(args: dict[str, Any]) -> Any:
    """Import a bank statement and reconcile it with the approved runs: matched, missing,
    unexpected, amount differs (each mismatch goes to the exceptions queue). A run is paid
    when every payment is matched. The same file again returns the first import. 422
    `bank_file_invalid` (nothing imported)."""
    who = principal()
    request.max_content_length = bankfile.MAX_BYTES
    data = request.get_data(cache=False)
    result = current_services().db.run(
        lambda s: reconciliation.import_statement(
            s, who, data, filename=args["filename"], fmt=args.get("format")
        )
    )
    return import_body(result), 200 if result.replayed else 201


@blp.route("/bank-statements", methods=["GET"])
@require(Role.OFFICER)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(BankImportOut, "BankImportsPage"))
def imports(args: dict[str, Any]) -> dict[str, Any]:
    """Bank statements imported, newest first."""
    found = current_services().db.run(
        lambda s: reconciliation.list_imports(s, page=args["page"], per_page=args["per_page"])
    )
    return page_out(found, import_body)


@blp.route("/bank-statements/<int:import_id>", methods=["GET"])
@require(Role.OFFICER)
@blp.response(200, BankImportOut)
def import_one(import_id: int) -> Any:
    """One import: its summary, every transaction and its outcome, and its mismatches."""

    def read(s: Any) -> Any:
        found = reconciliation.load_import(s, import_id)
        return found, reconciliation.import_lines(s, import_id)

    found, lines = current_services().db.run(read)
    return import_body(found, lines)


@blp.route("/mismatches", methods=["GET"])
@require(Role.OFFICER)
@blp.arguments(SettlementMismatchArgs, location="query")
@blp.response(200, SettlementMismatchOut(many=True))
def mismatches(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Bank mismatches newest first (at most 200); `?open=true` for the unresolved ones."""
    found = current_services().db.run(
        lambda s: reconciliation.mismatches(s, open_only=args["open"])
    )
    return [mismatch_body(m) for m in found]


@blp.route("/mismatches/<int:mismatch_id>/resolve", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(SettlementResolveIn)
@blp.response(200, SettlementMismatchOut)
def resolve(args: dict[str, Any], mismatch_id: int) -> dict[str, Any]:
    """Record how a mismatch was dealt with (who, when, why). 409 `mismatch_resolved`."""
    who = principal()
    return mismatch_body(
        current_services().db.run(
            lambda s: reconciliation.resolve_mismatch(
                s, who, mismatch_id, resolution=args["resolution"]
            )
        )
    )
