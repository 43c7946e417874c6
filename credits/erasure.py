"""Erasing a departed member's personal data, while the ledger keeps every entry.

A use case above the capabilities it reads (accounts, earning, adjustments, vouchers,
redemption): it lived in credits/accounts/ and imported those inside its functions to dodge
the cycle, so it sits beside them instead.

`credits erase-person` (docs/data-protection.md) turns a person into a pseudonym —
``Former member <id>`` — in one unit of work:

- their name, email address, phone number and password hash are replaced or removed (the
  email becomes ``erased-<id>@erased.invalid``, which can never receive mail or sign in),
  their status becomes ``erased``, their roles, group memberships and coordinator places
  are removed, their API tokens revoked, their web sessions and emailed links deleted;
- their ledger account is renamed to the pseudonym; its entries, postings and balance rows
  are untouched — they never held a name (the journal names people by id: ``person:12``),
  so every entry stays balanced, the hash chain re-hashes, statements do not change;
- the audit log's events about or by them, and any event quoting their email address or
  phone number, have those replaced by the pseudonym and their client addresses removed
  (PostgreSQL: only through ``audit_redact_person()``, migration 0021 — the app's role
  cannot otherwise change an event);
- the erasure itself is recorded (``person.erase``: who, when, why — and no personal data).

It is refused, changing nothing (:class:`ErasureRefused`, listing every reason), while the
person still holds credits or open vouchers, has a claim or an adjustment waiting for a
decision, or an unresolved offline exception: the scheme's rules decide what happens to
credits (the member spends them, or an officer posts an adjustment, four eyes above the
threshold) before the person can be forgotten. Free text that officers or coordinators wrote
(an adjustment's reason, an award's note) is kept as written: docs/data-protection.md tells
them never to put a name in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.accounts.links import AccountLink
from credits.accounts.models import ApiToken, Person, PersonRole, PersonStatus
from credits.accounts.sessions import WebSession
from credits.adjustments.models import PENDING as ADJ_PENDING
from credits.adjustments.models import Adjustment
from credits.audit.models import AuditEvent
from credits.db import utcnow
from credits.earning.awards import AWAITING_OFFICER, PENDING
from credits.earning.models import Award, AwardLine, GroupCoordinator, GroupMember
from credits.errors import CreditsError, NotFound, ValidationFailed
from credits.redemption.models import RedemptionException
from credits.vouchers.models import Voucher

ERASED = PersonStatus.ERASED.value


class ErasureRefused(CreditsError):
    code = "erasure_refused"
    title = "This person cannot be erased yet"


@dataclass(frozen=True)
class ErasureResult:
    """What an erasure did."""

    person_id: int
    pseudonym: str
    tokens_revoked: int
    sessions_ended: int
    audit_events_redacted: int


def pseudonym_for(person_id: int) -> str:
    """The name an erased person is known by from then on."""
    return f"Former member {person_id}"


def erasure_blockers(session: Session, person: Person) -> list[str]:
    """Every reason ``person`` cannot be erased now (empty: they can)."""

    assert person.id is not None
    reasons = []
    if person.ledger_account_id is not None:
        held = ledger.balance(session, person.ledger_account_id)
        if held:
            reasons.append(
                f"they hold {held} credits: they spend them, or an officer posts an "
                "adjustment taking them back (the scheme's rules say which)"
            )
    t_voucher = Voucher.__table__  # type: ignore[attr-defined]
    open_vouchers = session.execute(
        select(func.count())
        .select_from(t_voucher)
        .where(t_voucher.c.person_id == person.id, t_voucher.c.state == "open")
    ).scalar_one()
    if open_vouchers:
        reasons.append(f"they hold {open_vouchers} open voucher(s): spent or cancelled first")
    t_award, t_line = Award.__table__, AwardLine.__table__  # type: ignore[attr-defined]
    waiting = session.execute(
        select(func.count(func.distinct(t_award.c.id)))
        .select_from(t_award.join(t_line, t_line.c.award_id == t_award.c.id))
        .where(t_line.c.person_id == person.id, t_award.c.state.in_((PENDING, AWAITING_OFFICER)))
    ).scalar_one()
    if waiting:
        reasons.append(f"{waiting} claim(s) or award(s) for them wait for a decision")
    t_adj = Adjustment.__table__  # type: ignore[attr-defined]
    pending = session.execute(
        select(func.count())
        .select_from(t_adj)
        .where(t_adj.c.person_id == person.id, t_adj.c.state == ADJ_PENDING)
    ).scalar_one()
    if pending:
        reasons.append(f"{pending} adjustment(s) for them wait for a decision")
    t_exc = RedemptionException.__table__  # type: ignore[attr-defined]
    unresolved = session.execute(
        select(func.count())
        .select_from(t_exc)
        .where(t_exc.c.person_id == person.id, t_exc.c.resolved_at.is_(None))
    ).scalar_one()
    if unresolved:
        reasons.append(f"{unresolved} offline exception(s) about them are not resolved")
    return reasons


def erase_person(session: Session, person_id: int, *, by: Any, reason: str) -> ErasureResult:
    """Erase ``person_id``'s personal data (module docstring), recorded as done by ``by`` (a
    Principal or an audit Actor) for ``reason``. Raises ErasureRefused, NotFound or
    ValidationFailed without changing anything."""
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 200:
        raise ValidationFailed("give a reason of 3 to 200 characters (no personal data in it)")
    query = select(Person).where(Person.id == person_id)  # type: ignore[arg-type]
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    person = session.execute(query).scalar_one_or_none()
    if person is None:
        raise NotFound(f"there is no person {person_id}")
    if person.status == ERASED:
        raise ErasureRefused(f"person {person_id} was already erased")
    blockers = erasure_blockers(session, person)
    if blockers:
        raise ErasureRefused(
            f"person {person_id} cannot be erased yet: " + "; ".join(blockers), reasons=blockers
        )
    now = utcnow()
    pseudonym = pseudonym_for(person_id)
    everywhere = [v for v in (person.email, person.phone) if v and len(v) >= 3]
    own = [person.name] if len(person.name or "") >= 3 else []

    person.name = pseudonym
    person.email = f"erased-{person_id}@erased.invalid"
    person.phone = None
    person.password_hash = None
    person.email_confirmed_at = None
    person.status = ERASED
    person.status_reason = "personal data erased"
    person.status_changed_at = now
    person.status_changed_by = by.actor
    person.updated_at = now
    person.updated_by = by.actor
    session.add(person)
    if person.ledger_account_id is not None:
        from credits.ledger.models import T_ACCOUNT as t_account

        session.execute(
            update(t_account)
            .where(t_account.c.id == person.ledger_account_id)
            .values(name=pseudonym)
        )
    tokens = session.execute(
        update(ApiToken)
        .where(ApiToken.person_id == person_id, ApiToken.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(revoked_at=now, revoked_by=by.actor)
    ).rowcount
    sessions = _forget_person(session, person_id)
    redacted = redact_audit_log(session, person_id, everywhere, own, pseudonym)
    session.flush()
    audit.record(
        session, by, "person.erase", f"person:{person_id}", reason=reason, redacted=redacted
    )
    return ErasureResult(person_id, pseudonym, int(tokens or 0), sessions, redacted)


def _forget_person(session: Session, person_id: int) -> int:
    """Remove what exists only to let the person act: roles, group places, sessions, links."""

    ended = session.execute(
        delete(WebSession).where(WebSession.person_id == person_id)  # type: ignore[arg-type]
    ).rowcount
    for model in (AccountLink, GroupMember, GroupCoordinator, PersonRole):
        session.execute(delete(model).where(model.person_id == person_id))  # type: ignore[attr-defined]
    return int(ended or 0)


def _json_forms(values: list[str]) -> list[str]:
    """Each value as it appears inside stored JSON text (escaped as the JSON column's
    serializer escapes it) and as it is."""
    forms: list[str] = []
    for value in values:
        for form in (json.dumps(value)[1:-1], value):
            if form not in forms:
                forms.append(form)
    return forms


def redact_audit_log(
    session: Session, person_id: int, everywhere: list[str], own: list[str], pseudonym: str
) -> int:
    """Replace the person's personal data in the audit log with ``pseudonym``; return how
    many events changed. ``everywhere`` (email, phone) is replaced in every event; ``own``
    (their name, too common a string to chase elsewhere) and their client addresses only
    in events about or by them."""
    everywhere, own = _json_forms(everywhere), _json_forms(own)
    if session.get_bind().dialect.name == "postgresql":
        return int(
            session.execute(
                text("SELECT audit_redact_person(:p, :everywhere, :own, :pseudonym)"),
                {"p": person_id, "everywhere": everywhere, "own": own, "pseudonym": pseudonym},
            ).scalar_one()
        )
    # SQLite has no triggers or privileges to respect: the same rewrite, in Python.

    t_event = AuditEvent.__table__  # type: ignore[attr-defined]
    changed = 0
    for row in session.execute(select(t_event.c.id, t_event.c.details, t_event.c.target_ref,
                                      t_event.c.actor_person_id)).all():  # fmt: skip
        is_own = row.actor_person_id == person_id or row.target_ref == f"person:{person_id}"
        details_text = json.dumps(row.details)
        target = row.target_ref
        for needle in everywhere:
            details_text = details_text.replace(needle, pseudonym)
            target = target.replace(needle, pseudonym) if target else target
        if is_own:
            for needle in own:
                details_text = details_text.replace(needle, pseudonym)
        details = json.loads(details_text)
        if is_own and isinstance(details, dict):
            details.pop("ip", None)
        if details != row.details or target != row.target_ref:
            session.execute(
                update(t_event)
                .where(t_event.c.id == row.id)
                .values(details=details, target_ref=target)
            )
            changed += 1
    # As the PostgreSQL function does: every redaction leaves its own trace.
    audit.record(
        session,
        audit.Actor.system("audit_redact_person"),
        "audit.redact",
        f"person:{person_id}",
        events=changed,
    )
    return changed
