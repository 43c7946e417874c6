"""Vouchers, the trust list and the member's balance (contract v1, plus extensions).

- ``POST /api/v1/vouchers`` (member) → 201 ``{"id","code","amount","expires_at",...}``
- ``GET /api/v1/vouchers`` (member: their own), ``GET /api/v1/vouchers/{id}`` (member: their
  own; officer: any)
- ``POST /api/v1/vouchers/{id}/cancel`` (member: their own; officer: any)
- ``GET /api/v1/vouchers/{id}/qr.svg`` and ``qr.png`` (member: their own; officer: any)
- ``GET /api/v1/trust-list`` (no authentication; ETag, If-None-Match → 304)
- ``GET /api/v1/me/balance`` (member) → ``{"balance","in_vouchers"}``
"""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any

import marshmallow as ma
from flask import Response, request, url_for

from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.db import utcnow
from credits.statements.signing import trust_list_entries as statement_trust_entries
from credits.vouchers import qr
from credits.vouchers.errors import VoucherExpired
from credits.vouchers.models import Voucher, VoucherState
from credits.vouchers.runtime import runtime
from credits.vouchers.service import (
    MAX_CLIENT_KEY_CHARS,
    balance_summary,
    cancel_voucher,
    code_for,
    display_reference,
    get_voucher,
    issue_voucher,
    key_validity,
    vouchers_window,
)

blp = Blueprint(
    "vouchers",
    __name__,
    url_prefix="/api/v1",
    description="Signed QR vouchers, the public trust list, and the member's balance",
)

_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")


class StrictInteger(inputs.Integer):
    """An integer that refuses floats, strings and booleans (JSON true is not 1 credit)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)


def _printable(value: str) -> None:
    if not set(value) <= _PRINTABLE:
        raise ma.ValidationError("Must be printable ASCII.")


class VoucherRequestSchema(ma.Schema):
    amount = StrictInteger(
        required=True,
        validate=ma.validate.Range(1, 1_000_000),
        metadata={"description": "whole credits, 1 to 1,000,000"},
    )
    idempotency_key = inputs.String(
        required=True,
        validate=[ma.validate.Length(1, MAX_CLIENT_KEY_CHARS), _printable],
        metadata={"description": "1-200 printable ASCII characters; a retry sends the same"},
    )


class VoucherSchema(ma.Schema):
    id = inputs.String(metadata={"description": "32 lower-case hex characters"})
    code = inputs.String(
        allow_none=True,
        metadata={"description": "exactly the text in the QR code (null once not open)"},
    )
    amount = inputs.Integer(metadata={"description": "face value in credits"})
    expires_at = inputs.DateTime(format="iso")
    reference = inputs.String(metadata={"description": "XXXX-XXXX, for reading out"})
    state = inputs.String(metadata={"enum": [s.value for s in VoucherState]})
    issued_at = inputs.DateTime(format="iso")
    closed_at = inputs.DateTime(format="iso", allow_none=True)
    issued_by_officer = ma.fields.Boolean(
        metadata={"description": "issued by an officer on the member's behalf"}
    )
    qr_svg = inputs.String()
    qr_png = inputs.String()


class VoucherListSchema(ma.Schema):
    vouchers = ma.fields.List(ma.fields.Nested(VoucherSchema))
    total = inputs.Integer()


class VoucherListQuerySchema(ma.Schema):
    state = inputs.String(validate=ma.validate.OneOf([s.value for s in VoucherState]))
    limit = inputs.Integer(load_default=50, validate=ma.validate.Range(1, 200))
    offset = inputs.Integer(load_default=0, validate=ma.validate.Range(0, 1_000_000))


class BalanceSchema(ma.Schema):
    balance = inputs.Integer(metadata={"description": "spendable credits"})
    in_vouchers = inputs.Integer(metadata={"description": "credits held in open vouchers"})


class TrustKeySchema(ma.Schema):
    kid = inputs.String()
    alg = inputs.String()
    public_key = inputs.String(metadata={"description": "base64url (no padding), 32 bytes"})
    status = inputs.String(metadata={"enum": ["active", "retired", "revoked"]})
    use = inputs.String()
    valid_from = inputs.DateTime(format="iso")
    valid_until = inputs.DateTime(format="iso", allow_none=True)


class StatementKeySchema(ma.Schema):
    kid = inputs.String()
    alg = inputs.String()
    public_key = inputs.String(metadata={"description": "base64url of the raw 32 bytes"})
    status = inputs.String()


class TrustListSchema(ma.Schema):
    keys = ma.fields.List(ma.fields.Nested(TrustKeySchema))
    statement_keys = ma.fields.List(
        ma.fields.Nested(StatementKeySchema),
        metadata={"description": "keys that sign monthly statements (never vouchers)"},
    )
    scheme_id = inputs.Integer()


def _iso(t: Any) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def voucher_json(v: Voucher) -> dict[str, Any]:
    """A voucher as the API shows it."""
    rt = runtime(current_services().settings)
    is_open = v.state == VoucherState.OPEN.value
    return {
        "id": v.id,
        "code": code_for(v, rt.keyring) if is_open else None,
        "amount": v.face_value,
        "expires_at": v.expires_at,
        "reference": display_reference(v),
        "state": v.state,
        "issued_at": v.issued_at,
        "closed_at": v.closed_at,
        "issued_by_officer": not v.issued_by.startswith(f"person:{v.person_id} "),
        "qr_svg": url_for("vouchers.voucher_qr_svg", voucher_id=v.id),
        "qr_png": url_for("vouchers.voucher_qr_png", voucher_id=v.id),
    }


def _read(use_case: Any) -> Any:
    """Run a read-only use case; the rows it returns stay usable after the session ends."""
    with current_services().db.read() as s:
        result = use_case(s)
        s.expunge_all()  # detach before the read transaction's rollback expires them
    return result


def _owner_filter() -> int | None:
    """Members see only their own vouchers; officers see any."""
    who = principal()
    return who.person_id if who.role is Role.MEMBER else None


@blp.route("/vouchers", methods=["POST"])
@require(Role.MEMBER)
@blp.arguments(VoucherRequestSchema)
@blp.response(201, VoucherSchema)
@inputs.refuses(insufficient_funds=409, idempotency_conflict=409, too_many_open_vouchers=409)
def create_voucher(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Turn credits into a signed voucher.

    Moves ``amount`` from the member's balance to vouchers outstanding in one ledger entry.
    The same ``idempotency_key`` again returns the first voucher (200 on a replay is not
    used: the same 201 body comes back). 409 ``insufficient_funds`` if the balance is short;
    409 ``idempotency_conflict`` if the key was used for another amount.
    """
    who = principal()
    assert who.person_id is not None
    rt = runtime(current_services().settings)
    voucher, _ = current_services().db.run(
        lambda s: issue_voucher(
            s,
            keyring=rt.keyring,
            policy=rt.policy,
            person_id=who.person_id,
            amount=body["amount"],
            client_key=body["idempotency_key"],
            actor=who.actor,
        ),
        idempotent=True,  # keyed: a second run returns the first voucher
    )
    out = voucher_json(voucher)
    return out, 201, {"Location": url_for("vouchers.voucher", voucher_id=voucher.id)}


@blp.route("/vouchers", methods=["GET"])
@require(Role.MEMBER)
@blp.arguments(VoucherListQuerySchema, location="query")
@blp.response(200, VoucherListSchema)
def vouchers(query: dict[str, Any]) -> dict[str, Any]:
    """The member's own vouchers, newest first (``?state=open`` for the open ones)."""
    who = principal()
    assert who.person_id is not None
    states = [VoucherState(query["state"])] if query.get("state") else None
    found = _read(
        lambda s: vouchers_window(
            s, who.person_id, states=states, limit=query["limit"], offset=query["offset"]
        )
    )
    return {"vouchers": [voucher_json(v) for v in found.items], "total": found.total}


@blp.route("/vouchers/<string:voucher_id>", methods=["GET"])
@require(Role.MEMBER, Role.OFFICER)
@blp.response(200, VoucherSchema)
def voucher(voucher_id: str) -> dict[str, Any]:
    """One voucher: a member's own, or any for an officer."""
    owner = _owner_filter()
    return voucher_json(_read(lambda s: get_voucher(s, voucher_id, person_id=owner)))


@blp.route("/vouchers/<string:voucher_id>/cancel", methods=["POST"])
@require(Role.MEMBER, Role.OFFICER)
@blp.response(200, VoucherSchema)
@inputs.refuses(voucher_cancelled=409, already_redeemed=409, expired=409)
def cancel(voucher_id: str) -> dict[str, Any]:
    """Cancel an unused voucher: its credits go back to the member at once.

    409 ``voucher_cancelled`` if it was already cancelled, ``already_redeemed`` if spent,
    ``expired`` if it expired and its credits already went back.
    """
    who = principal()
    v = current_services().db.run(
        lambda s: cancel_voucher(s, voucher_id, actor=who.actor, person_id=_owner_filter()),
        # A second run after a committed first one posts nothing (the voucher is no longer
        # open; its closing key is taken) and answers voucher_cancelled.
        idempotent=True,
    )
    return voucher_json(v)


def _open_voucher_code(voucher_id: str) -> tuple[Voucher, str]:
    from credits.vouchers.service import _refusal

    owner = _owner_filter()
    v = _read(lambda s: get_voucher(s, voucher_id, person_id=owner))
    if v.state != VoucherState.OPEN.value:
        raise _refusal(v, v.id)
    if v.expires_at <= utcnow():  # not yet swept back, but no shop will take it
        raise VoucherExpired(
            "this voucher has expired; cancel it to get its credits back now",
            expires_at=_iso(v.expires_at),
        )
    return v, code_for(v, runtime(current_services().settings).keyring)


_QR_HEADERS = {
    # A QR code is a bearer instrument: never cached by anything in between.
    "Cache-Control": "private, no-store",
}


@blp.route("/vouchers/<string:voucher_id>/qr.svg", methods=["GET"])
@require(Role.MEMBER, Role.OFFICER)
@blp.doc(
    responses={
        "200": {
            "description": "The QR code (level M, 4-module quiet zone) as SVG.",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        }
    }
)
@inputs.refuses(voucher_cancelled=409, already_redeemed=409, expired=409)
def voucher_qr_svg(voucher_id: str) -> Response:
    """The voucher's QR code as SVG (scales to any size, crisp edges)."""
    v, code = _open_voucher_code(voucher_id)
    body = qr.svg(code, "M", title=f"QR code of voucher {display_reference(v)}")
    return Response(body, mimetype="image/svg+xml", headers=_QR_HEADERS)


@blp.route("/vouchers/<string:voucher_id>/qr.png", methods=["GET"])
@require(Role.MEMBER, Role.OFFICER)
@blp.doc(
    responses={
        "200": {
            "description": "The QR code (level M, 4-module quiet zone), 10 px a module.",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
)
@inputs.refuses(voucher_cancelled=409, already_redeemed=409, expired=409)
def voucher_qr_png(voucher_id: str) -> Response:
    """The voucher's QR code as PNG."""
    _, code = _open_voucher_code(voucher_id)
    return Response(qr.png(code, "M"), mimetype="image/png", headers=_QR_HEADERS)


@blp.route("/me/balance", methods=["GET"])
@require(Role.MEMBER)
@blp.response(200, BalanceSchema)
def my_balance() -> dict[str, int]:
    """The member's spendable balance and the credits held in their open vouchers."""
    who = principal()
    assert who.person_id is not None
    with current_services().db.read() as s:
        summary = balance_summary(s, who.person_id)
    return {"balance": summary.balance, "in_vouchers": summary.in_vouchers}


#: Terminals revalidate often (a revocation must reach them quickly) but may keep using
#: the list they have when the ledger cannot be reached.
TRUST_LIST_CACHE = "public, max-age=60, stale-if-error=86400"


def trust_list_body() -> dict[str, Any]:
    """The trust list: every voucher key with its status and validity."""
    settings = current_services().settings
    rt = runtime(settings)
    with current_services().db.read() as s:
        keys = key_validity(s, rt.keyring)
    return {
        "keys": [
            {
                "kid": k["kid"],
                "alg": "Ed25519",
                "public_key": k["public_key"],
                "status": k["status"],
                "use": k["use"],
                "valid_from": _iso(k["valid_from"]),
                "valid_until": _iso(k["valid_until"]),
            }
            for k in keys
        ],
        "scheme_id": rt.policy.scheme_id,
        # Statement signing keys, apart from "keys": a terminal trusts every key in "keys"
        # for vouchers, and a statement key must never sign one (docs/statements.md).
        "statement_keys": statement_trust_entries(settings.instance_path),
    }


def _etag_matches(etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return f'"{etag}"' in tags


@blp.route("/trust-list", methods=["GET"])
@blp.doc(
    security=[],
    responses={"304": {"description": "Not modified (If-None-Match matched the ETag)."}},
)
@blp.response(200, TrustListSchema)
def trust_list() -> Response:
    """The public keys that sign vouchers, with status and validity (no authentication).

    Send ``If-None-Match`` with the last ``ETag`` to get 304 when nothing changed.
    Format: docs/voucher-format.md.
    """
    body = json.dumps(trust_list_body(), separators=(",", ":"), sort_keys=True)
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    headers = {"ETag": f'"{etag}"', "Cache-Control": TRUST_LIST_CACHE}
    if _etag_matches(etag):
        return Response(status=304, headers=headers)
    return Response(body, mimetype="application/json", headers=headers)


@blp.after_request
def _no_store(response: Response) -> Response:
    """Voucher codes are bearer instruments: no cache may keep a response that holds one
    (the trust list sets its own, public, policy)."""
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


@blp.record_once
def _first_run(state: Any) -> None:
    """Create the first signing key when the app starts (not on the first voucher)."""
    svc = state.app.extensions.get("credits")
    if svc is not None:
        runtime(svc.settings)
