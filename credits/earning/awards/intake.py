"""What was asked, and whether it was asked before: the first half of every new award.

Records, session sheets and claims all start the same way (:func:`open_award`): the
fields are parsed (every problem reported at once), the request is fingerprinted under the
caller's namespaced idempotency key, a repeat is answered with the first award (a different
request under the key is ``idempotency_conflict``), and only then is the activity looked up
and the date checked — a replay must answer even after the activity was paused or the
month closed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.service import normalise_email
from credits.earning import dates
from credits.earning.awards.eligibility import activity_for_award, check_date
from credits.earning.awards.views import AwardView, load_award
from credits.earning.models import T_AWARD, Activity
from credits.earning.quantities import InvalidQuantity, parse_quantity
from credits.earning.request_checks import (
    MAX_NOTE_CHARS,
    Problems,
    check_client_key,
    fingerprint,
    text_field,
)
from credits.errors import ValidationFailed
from credits.i18n import T


@dataclass(frozen=True, slots=True)
class Request:
    """The fields every new award has, parsed."""

    activity_slug: str
    occurred_on: date
    note: str
    key: str


@dataclass(frozen=True, slots=True)
class Opened:
    """A new (not replayed) award request whose activity and date may take awards."""

    request: Request
    #: The idempotency key namespaced per person: ``award:<person id>:<client key>``.
    key: str
    request_hash: str
    activity: Activity


def parse_request(
    problems: Problems, *, activity: Any, occurred_on: Any, note: Any, key: Any
) -> Request:
    """Parse the fields common to records, sheets and claims, noting problems in
    ``problems`` (the caller raises them with its own)."""
    slug = text_field(problems, "activity", activity, max_chars=60)
    day = date.min
    try:
        day = dates.parse_date(occurred_on)
    except ValidationFailed as exc:
        problems.take(exc)
    note_text = text_field(problems, "note", note, max_chars=MAX_NOTE_CHARS, required=False)
    client_key = ""
    try:
        client_key = check_client_key(key)
    except ValidationFailed as exc:
        problems.take(exc)
    return Request(slug, day, note_text, client_key)


def parse_email(value: Any) -> str:
    """A member's email address, normalised; ValidationFailed on ``member_email``."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(
            T("member_email is required"), errors={"member_email": [T("required")]}
        )
    try:
        return normalise_email(value)
    except ValidationFailed as exc:
        raise ValidationFailed(
            T("'%(email)s' is not an email address", email=value[:60]),
            errors={"member_email": [T("not an email address")]},
        ) from exc


def parse_amount(problems: Problems, quantity: Any) -> Decimal:
    """A line's quantity, or 0 with the problem noted."""
    try:
        return parse_quantity(quantity)
    except InvalidQuantity as exc:
        problems.take(exc)
        return Decimal(0)


def parse_member_line(problems: Problems, member_email: Any, quantity: Any) -> tuple[str, Decimal]:
    """A member's email and quantity (a record, or one line of a sheet), problems noted."""
    email = ""
    try:
        email = parse_email(member_email)
    except ValidationFailed as exc:
        problems.take(exc)
    return email, parse_amount(problems, quantity)


def replay(session: Session, namespaced_key: str, request_hash: str) -> AwardView | None:
    """The award already created under ``namespaced_key`` (marked ``replayed``), or None;
    ``IdempotencyConflict`` if the key was used for a different request."""
    row = session.execute(
        select(T_AWARD.c.id, T_AWARD.c.request_hash).where(
            T_AWARD.c.idempotency_key == namespaced_key
        )
    ).first()
    if row is None:
        return None
    if row[1] != request_hash:
        raise ledger.IdempotencyConflict(
            "this idempotency_key was already used for a different request"
        )
    return replace(load_award(session, int(row[0])), replayed=True)


def open_award(
    session: Session,
    *,
    kind: str,
    owner_id: int,
    request: Request,
    lines: list[list[Any]],
    now: datetime | None,
) -> AwardView | Opened:
    """Fingerprint → replay → activity → date: the replayed award if this request was
    already made under its key, else the :class:`Opened` request to check and write.

    ``lines`` are what identifies each line in the request (``[email, quantity]``; a claim
    names the member by id), in the order given.
    """
    namespaced = f"award:{owner_id}:{request.key}"
    request_hash = fingerprint(
        {
            "kind": kind,
            "activity": request.activity_slug,
            "occurred_on": request.occurred_on.isoformat(),
            "lines": lines,
            "note": request.note,
        }
    )
    replayed = replay(session, namespaced, request_hash)
    if replayed is not None:
        return replayed
    activity = activity_for_award(session, request.activity_slug)
    assert activity.id is not None
    check_date(session, request.occurred_on, now)
    return Opened(request, namespaced, request_hash, activity)
