"""Who may read which statement, and the statement files (JSON, CSV, journals) with their
signatures. Used by the API, the officer pages and the command line alike, so all three
serve the same bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from credits.accounts import Role
from credits.db import utcnow
from credits.errors import Forbidden, ValidationFailed
from credits.i18n import T
from credits.ledger.periods import Month
from credits.statements import journals, render, signing
from credits.statements.engine import Statement, build_statement

FORMATS = ("json", "csv", "hledger", "beancount")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "hledger": "text/plain; charset=utf-8",
    "beancount": "text/plain; charset=utf-8",
}
EXTENSIONS = {"json": "json", "csv": "csv", "hledger": "journal", "beancount": "beancount"}


def parse_month(text: str, *, now: datetime | None = None) -> Month:
    """A month that has begun: ``YYYY-MM`` (validation_error otherwise, also for a future
    month, which has no statement yet)."""
    month = Month.parse(text)
    now = now or utcnow()
    if month.starts_at > now:
        raise ValidationFailed(
            T("%(month)s has not started yet: there is no statement for it", month=str(month)),
            errors={"month": [T("In the future.")]},
        )
    return month


def shop_in_scope(who: Any, shop_id: int | None) -> int | None:
    """The shop the caller may read: officers any (or the scheme, None); a terminal only its
    own shop (``shop_id`` omitted means its own); anyone else is forbidden."""
    role = getattr(who, "role", None)
    if role is Role.OFFICER:
        return shop_id
    if role is Role.TERMINAL:
        scope = getattr(who, "scope_ref", None) or ""
        own = int(scope.split(":", 1)[1]) if scope.startswith("shop:") else None
        if own is None:
            raise Forbidden("this terminal belongs to no shop")
        if shop_id is not None and shop_id != own:
            raise Forbidden("a terminal may read only its own shop's statement")
        return own
    raise Forbidden("only council officers and shop terminals may read statements")


@dataclass(frozen=True, slots=True)
class StatementFile:
    """A statement rendered in one format: the exact bytes, their media type and name."""

    data: bytes
    media_type: str
    filename: str
    statement: Statement


def render_file(statement: Statement, fmt: str) -> StatementFile:
    """The bytes of ``statement`` in ``fmt`` (json, csv, hledger, beancount)."""
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be one of {', '.join(FORMATS)}", errors={"format": ["Unknown."]}
        )
    if fmt == "json":
        data = render.json_bytes(statement)
    elif fmt == "csv":
        data = render.csv_bytes(statement)
    else:
        raise ValidationFailed("journals need the session: use statement_file()")
    return StatementFile(data, MEDIA_TYPES[fmt], _filename(statement, fmt), statement)


def _filename(statement: Statement, fmt: str) -> str:
    who = "scheme" if statement.shop is None else f"shop-{statement.shop.shop_id}"
    return f"statement-{statement.month}-{who}.{EXTENSIONS[fmt]}"


def statement_file(
    session: Session, month: Month, fmt: str, *, shop_id: int | None = None
) -> StatementFile:
    """Build the statement and render it in ``fmt``."""
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be one of {', '.join(FORMATS)}", errors={"format": ["Unknown."]}
        )
    statement = build_statement(session, month, shop_id=shop_id)
    if fmt in ("json", "csv"):
        return render_file(statement, fmt)
    text = journals.journal(session, statement, fmt)
    return StatementFile(
        text.encode("utf-8"), MEDIA_TYPES[fmt], _filename(statement, fmt), statement
    )


def sign_file(instance_path: Path | str, file: StatementFile) -> str:
    """The detached signature line of a statement file."""
    return signing.sign(instance_path, file.data)
