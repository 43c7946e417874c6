"""The open data: the scheme's public record, with no authentication (docs/open-data.md).

GET /api/v1/open/months                  every closed month (published or held back) and the
                                         year so far
GET /api/v1/open/{YYYY-MM}               a published month: JSON, or ?format=csv
GET /api/v1/open/{YYYY-MM}/signature     its detached signature (?format=json|csv)
GET /api/v1/open/data/datapackage.json   the Frictionless Data Package of every month's CSV
GET /api/v1/open/data/{YYYY-MM}.csv      a resource of the package (the month's CSV)

Every body is signed in the ``Statement-Signature`` header with the statement key (the
trust list's ``statement_keys``), carries a strong ``ETag`` (``If-None-Match`` → 304) and
may be cached by anyone (``Cache-Control: public``; a closed month never changes, though an
officer may hold one back later, so caches keep it an hour at most). Cross-origin reads are
allowed: it is open data.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request

from credits.api import inputs
from credits.api.context import public_record
from credits.api.inputs import Blueprint
from credits.open import OpenFile
from credits.statements import signing

blp = Blueprint(
    "open_data",
    __name__,
    url_prefix="/api/v1/open",
    description="The scheme's public record: closed months' figures, signed, no personal data",
)

#: A closed month's figures are final; an hour bounds how long a copy outlives a hold.
MONTH_CACHE = "public, max-age=3600"
#: The index and the package change at each close, hold or release.
INDEX_CACHE = "public, max-age=300"


class FormatArgs(ma.Schema):
    format = inputs.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", "csv"]),
        metadata={"description": "json (default) or csv"},
    )


def _etag_matches(etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return f'"{etag}"' in [t.strip().removeprefix("W/") for t in header.split(",")]


def _serve(file: OpenFile, cache: str) -> Response:
    headers = {
        "ETag": f'"{file.etag}"',
        "Cache-Control": cache,
        signing.HEADER: file.signature,
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": f"ETag, {signing.HEADER}",
    }
    if _etag_matches(file.etag):
        return Response(status=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{file.filename}"'
    return Response(file.data, content_type=file.media_type, headers=headers)


_SIGNED = {
    "ETag": {"description": "strong validator of the body", "schema": {"type": "string"}},
    signing.HEADER: {
        "description": "kid=<kid>; sig=<base64url Ed25519 signature of the body bytes>",
        "schema": {"type": "string"},
    },
}
_NOT_MODIFIED = {"304": {"description": "Not modified (If-None-Match matched the ETag)."}}


@blp.route("/months", methods=["GET"])
@blp.doc(security=[], responses=_NOT_MODIFIED)
@blp.response(200, description="Closed months and the year so far (JSON).", headers=_SIGNED)
def months() -> Response:
    """Every closed month, published or held back, and the year so far."""
    return _serve(public_record().months_file(), INDEX_CACHE)


@blp.route("/<month>", methods=["GET"])
@blp.doc(security=[], responses=_NOT_MODIFIED)
@blp.arguments(FormatArgs, location="query")
@blp.response(
    200,
    description="A published month's figures (JSON; with format=csv, one CSV table).",
    headers=_SIGNED,
)
def month(args: dict[str, Any], month: str) -> Response:
    """A closed, published month. 404 ``not_found`` if it is not closed,
    ``publication_held`` if an officer has held it back; 422 for a malformed month."""
    return _serve(public_record().month_file(month, args["format"]), MONTH_CACHE)


@blp.route("/<month>/signature", methods=["GET"])
@blp.doc(security=[])
@blp.arguments(FormatArgs, location="query")
@blp.response(200, description="The signature line of the month's JSON or CSV (text/plain).")
def signature(args: dict[str, Any], month: str) -> Response:
    """The detached signature of a month's file, for `credits verify-statement FILE SIG`."""
    file = public_record().month_file(month, args["format"])
    return Response(
        file.signature + "\n",
        content_type="text/plain; charset=ascii",
        headers={
            "Cache-Control": MONTH_CACHE,
            "Access-Control-Allow-Origin": "*",
            "Content-Disposition": f'inline; filename="{file.filename}.sig"',
        },
    )


@blp.route("/data/datapackage.json", methods=["GET"])
@blp.doc(security=[], responses=_NOT_MODIFIED)
@blp.response(200, description="The Frictionless Data Package descriptor.", headers=_SIGNED)
def datapackage() -> Response:
    """The tabular data package: a CSV resource per published month, one table schema,
    the licence."""
    return _serve(public_record().datapackage_file(), INDEX_CACHE)


@blp.route("/data/<filename>", methods=["GET"])
@blp.doc(security=[], responses=_NOT_MODIFIED)
@blp.response(200, description="A resource of the data package: YYYY-MM.csv.", headers=_SIGNED)
def resource(filename: str) -> Response:
    """A month's CSV, named as the data package names it."""
    return _serve(public_record().resource_file(filename), MONTH_CACHE)
