"""Awards: credits for volunteering, recorded by coordinators or claimed by volunteers.

Three ways in, one way to the ledger:

- :func:`record_award` — a coordinator records one member's activity (contract v1
  ``POST /api/v1/earnings``);
- :func:`record_session` — a coordinator records a whole session's sheet (a snow day: 40
  volunteers): all or nothing, one idempotency key, ONE balanced ledger entry (issuance −
  total, each member + their credits); if any line fails, :class:`LinesRefused` lists every
  failing line and nothing is written;
- :func:`file_claim` — a volunteer claims a session they did; it waits for approval.

**States** (``award.state``)::

    claim filed ──► pending ──approve (coordinator of the member's group, or an officer)──┐
                      │                                                                    │
                      └─reject──► rejected        every line ≤ threshold ──► posted ◄──────┤
                                                  some line > threshold ──► awaiting_officer
    coordinator records: ≤ threshold ──► posted (201)                         │   │
                         > threshold ──► awaiting_officer (202) ──────────────┘   │
                                            approve (an officer who is not the    │
                                            first approver) ──► posted            │
                                            reject (an officer) ──► rejected ◄────┘

**Guarantees**

1. Credits move only as one balanced entry per award, posted with ``ledger.post_entry`` in
   the use case's unit of work: issuance −total, each member +their line. The award row
   and the entry are written in the same transaction, and ``award.entry_id`` links them.
2. Caps and budgets hold under concurrency (limits.py): they are checked, under row locks,
   at the moment credits are posted (a record, a session, the final approval). A pending
   claim or an award awaiting an officer reserves nothing: its check is repeated when it is
   posted, and can then refuse.
3. Four eyes: an award line above the officers' threshold (``earning_settings``) needs a
   second approval by an officer who is not the first approver (the recording coordinator
   counts as the first). Nobody records, approves or rejects an award to themselves. The
   database repeats the first rule (``ck_award_four_eyes``, ``ck_award_posted_four_eyes``).
4. Idempotency: creating an award takes a client key, namespaced per person
   (``award:<person id>:<key>``); the same key and request return the first award (with
   its current state) and write nothing; a different request under the key is
   ``idempotency_conflict``. An approval repeated by the same person with the same key
   returns the award as it is; a rejection repeated by the same person likewise.
5. Attribution: who (person id and ``Principal.actor``, which names the token or session)
   and when, for the creation and each decision; the ledger entry's actor is whoever
   caused the posting.
6. Every refusal is a CreditsError raised before anything is written or inside the unit of
   work: a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, insert, select
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.accounts import Principal, Role
from credits.accounts.models import Person
from credits.accounts.service import normalise_email
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.earning import dates, limits
from credits.earning.activities import four_eyes_threshold
from credits.earning.common import (
    MAX_NOTE_CHARS,
    MAX_REASON_CHARS,
    Problems,
    check_client_key,
    fingerprint,
    require_role,
    text_field,
)
from credits.earning.errors import (
    ActivityInactive,
    AwardNotFound,
    AwardNotPending,
    LinesRefused,
    NotInGroup,
    NotYourGroup,
    SecondApproverRequired,
    SelfAward,
    UnknownActivity,
    UnknownMember,
)
from credits.earning.groups import (
    ActivityRef,
    PersonRef,
    can_act_for,
    coordinates_activity,
    eligible_member,
    eligible_members,
    member_activity_ids,
)
from credits.earning.models import (
    T_ACTIVITY,
    T_AWARD,
    T_GROUP,
    T_GROUP_ACTIVITY,
    T_GROUP_COORDINATOR,
    T_GROUP_MEMBER,
    T_LINE,
    Activity,
    Award,
    AwardLine,
)
from credits.earning.quantities import (
    InvalidQuantity,
    credits_for,
    describe,
    parse_quantity,
    quantity_text,
    to_centi,
)
from credits.errors import CreditsError, ValidationFailed
from credits.i18n import T, Tn

RECORD, SESSION, CLAIM = "record", "session", "claim"
PENDING, AWAITING_OFFICER, POSTED, REJECTED = "pending", "awaiting_officer", "posted", "rejected"
#: Most lines one session sheet may have.
MAX_SHEET_LINES = 500

T_PERSON = Person.__table__  # type: ignore[attr-defined]


# --- what callers get back ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """Who did something to an award, when, and how (``actor`` names the token/session)."""

    person: PersonRef | None
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LineView:
    member: PersonRef
    quantity_centi: int
    credits: int

    @property
    def quantity(self) -> str:
        return quantity_text(self.quantity_centi)


@dataclass(frozen=True, slots=True)
class AwardView:
    """An award as the API and pages show it."""

    id: int
    kind: str
    state: str
    activity: ActivityRef
    unit: str
    credits_per_unit: int
    occurred_on: date
    total_credits: int
    lines: tuple[LineView, ...]
    note: str
    needs_officer: bool
    created: Step
    first_approval: Step | None
    second_approval: Step | None
    rejection: Step | None
    reject_reason: str | None
    entry_id: int | None
    posted_at: datetime | None
    replayed: bool = False

    @property
    def member(self) -> PersonRef | None:
        """The member, for an award to one member (a record or a claim)."""
        return self.lines[0].member if len(self.lines) == 1 else None

    @property
    def quantity(self) -> str | None:
        return self.lines[0].quantity if len(self.lines) == 1 else None

    @property
    def credits(self) -> int:
        return self.total_credits

    @property
    def approvers(self) -> list[PersonRef]:
        """Who approved it, in order (the recording coordinator counts for a record)."""
        return [
            s.person
            for s in (self.first_approval, self.second_approval)
            if s is not None and s.person is not None
        ]

    @property
    def describe_quantity(self) -> str:
        return describe(self.lines[0].quantity_centi, self.unit) if len(self.lines) == 1 else ""


# --- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    activity_slug: str
    occurred_on: date
    note: str
    key: str


@dataclass(frozen=True, slots=True)
class _Line:
    person: PersonRef
    quantity: Decimal
    credits: int


def _parse_common(
    problems: Problems, *, activity: Any, occurred_on: Any, note: Any, key: Any
) -> _Parsed:
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
    return _Parsed(slug, day, note_text, client_key)


def _parse_email(value: Any) -> str:
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


def _activity_for_award(session: Session, slug: str) -> Activity:
    row = session.execute(select(Activity).where(T_ACTIVITY.c.slug == slug)).scalar_one_or_none()
    if row is None:
        raise UnknownActivity(
            T("there is no activity '%(slug)s'", slug=slug),
            errors={"activity": [T("no such activity")]},
        )
    if not row.active:
        raise ActivityInactive(
            T("%(activity)s is not taking awards at the moment", activity=row.name),
            errors={"activity": [T("not active")]},
        )
    return row


def _check_date(session: Session, day: date, now: datetime | None) -> None:
    dates.check_window(day, now)
    dates.ensure_open(session, day)


# --- replays --------------------------------------------------------------------------------


def _replay(session: Session, namespaced_key: str, request_hash: str) -> AwardView | None:
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


# --- posting --------------------------------------------------------------------------------


def _memo(kind: str, activity: Activity, day: date, lines: Sequence[tuple[str, int, int]]) -> str:
    """What the entry says: ``Snow clearing on 20 Nov 2026: 4 hours (record)``."""
    when = f"{day.day} {day:%b %Y}"
    if kind == SESSION:
        total = sum(c for _, _, c in lines)
        text = f"{activity.name} on {when}: session sheet, {len(lines)} volunteers, {total} credits"
    else:
        _, centi, credits = lines[0]
        text = f"{activity.name} on {when}: {describe(centi, activity.unit)}, {credits} credits"
        text += " (claim)" if kind == CLAIM else ""
    return text[:500]


def _post_entry(
    session: Session,
    who: Principal,
    *,
    kind: str,
    activity: Activity,
    day: date,
    award_key: str,
    lines: Sequence[tuple[int, int, int]],
) -> ledger.PostedEntry:
    """Post the award's one balanced entry: issuance −total, each member +credits.

    ``lines`` are (person id, quantity in hundredths, credits).
    """
    accounts = dict(
        session.execute(
            select(T_PERSON.c.id, T_PERSON.c.ledger_account_id).where(
                T_PERSON.c.id.in_([p for p, _, _ in lines])
            )
        ).all()
    )
    issuance = ledger.scheme_account(session, ledger.ISSUANCE)
    total = sum(c for _, _, c in lines)
    legs = [ledger.Leg(issuance.id, -total)]
    for person_id, _, credits in lines:
        account = accounts.get(person_id)
        if account is None:
            raise UnknownMember(f"person {person_id} has no member account")
        legs.append(ledger.Leg(int(account), credits))
    entry = ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=ledger.EntryKind.EARN,
            legs=tuple(legs),
            memo=_memo(kind, activity, day, [("", c, cr) for _, c, cr in lines]),
            actor=who.actor,
            idempotency_key=f"earn:{award_key}",
            occurred_at=dates.entry_time(day),
        ),
    )
    if entry.replayed:
        # The entry exists but this transaction did not write its award: a concurrent
        # attempt with the same key committed first. Run again: it will replay that award.
        raise RetryTransaction(f"award {award_key} was posted concurrently")
    return entry


def _asks(lines: Iterable[_Line]) -> list[limits.LineAsk]:
    return [limits.LineAsk(x.person.id, x.person.name, x.credits) for x in lines]


def _cap_line(index: int, email: str, problem: CreditsError) -> dict[str, Any]:
    return {
        "line": index,
        "member_email": email,
        "code": problem.code,
        "detail": problem.detail,
        **{k: v for k, v in problem.extra.items() if k != "errors"},
    }


def _insert_award(session: Session, award: Award, lines: Sequence[_Line]) -> Award:
    session.add(award)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "idempotency_key"):
            raise RetryTransaction("award created concurrently with the same key") from exc
        raise
    assert award.id is not None
    session.execute(
        insert(AwardLine),
        [
            {
                "award_id": award.id,
                "person_id": x.person.id,
                "quantity_centi": to_centi(x.quantity),
                "credits": x.credits,
            }
            for x in lines
        ],
    )
    return award


def _create(
    session: Session,
    who: Principal,
    *,
    kind: str,
    activity: Activity,
    parsed: _Parsed,
    lines: list[_Line],
    namespaced: str,
    request_hash: str,
    needs_officer: bool,
) -> AwardView:
    """Write a new award: post it now, or leave it for an officer (four eyes)."""
    assert who.person_id is not None and activity.id is not None
    now = utcnow()
    award = Award(
        kind=kind,
        state=AWAITING_OFFICER if needs_officer else POSTED,
        activity_id=activity.id,
        occurred_on=parsed.occurred_on,
        unit=activity.unit,
        credits_per_unit=activity.credits_per_unit,
        total_credits=sum(x.credits for x in lines),
        line_count=len(lines),
        note=parsed.note,
        idempotency_key=namespaced,
        request_hash=request_hash,
        needs_officer=needs_officer,
        created_by_person_id=who.person_id,
        created_by=who.actor,
        created_at=now,
        # Recording is the coordinator's own approval: an officer must be someone else.
        first_approver_id=who.person_id,
        first_approved_by=who.actor,
        first_approved_at=now,
    )
    if needs_officer:
        check = limits.check(session, activity, parsed.occurred_on, _asks(lines), lock=False)
        _raise_limits(kind, check, lines)
        _insert_award(session, award, lines)
        assert award.id is not None
        return load_award(session, award.id)
    check = limits.check(session, activity, parsed.occurred_on, _asks(lines), lock=True)
    # Holding the locks, look again: a concurrent attempt with this key may have committed
    # while we waited, and must be replayed rather than counted against the cap twice.
    again = _replay(session, namespaced, request_hash)
    if again is not None:
        return again
    _raise_limits(kind, check, lines)
    limits.apply(session, activity, parsed.occurred_on, _asks(lines))
    entry = _post_entry(
        session,
        who,
        kind=kind,
        activity=activity,
        day=parsed.occurred_on,
        award_key=namespaced,
        lines=[(x.person.id, to_centi(x.quantity), x.credits) for x in lines],
    )
    award.entry_id = entry.id
    award.posted_at = now
    _insert_award(session, award, lines)
    assert award.id is not None
    return load_award(session, award.id)


def _raise_limits(kind: str, check: limits.LimitCheck, lines: Sequence[_Line]) -> None:
    if check.ok:
        return
    if kind == SESSION and check.caps:
        by_person = {x.person.id: (i, x) for i, x in enumerate(lines, 1)}
        failing = [
            _cap_line(by_person[p][0], by_person[p][1].person.email, problem)
            for p, problem in check.caps.items()
        ]
        raise LinesRefused(
            Tn(
                "%(num)s line would exceed a cap; nothing was posted",
                "%(num)s lines would exceed a cap; nothing was posted",
                len(failing),
            ),
            sorted(failing, key=lambda x: x["line"]),
        )
    check.raise_first()


# --- coordinators record --------------------------------------------------------------------


def record_award(
    session: Session,
    who: Principal,
    *,
    member_email: Any,
    activity: Any,
    quantity: Any,
    occurred_on: Any,
    idempotency_key: Any,
    note: Any = "",
    now: datetime | None = None,
) -> AwardView:
    """A coordinator awards one member of their groups for one of their groups' activities.

    Posted at once (state ``posted``) unless the credits are above the four-eyes threshold,
    in which case it waits for an officer (``awaiting_officer``). See the module docstring.
    """
    coordinator_id = require_role(who, Role.COORDINATOR)
    problems = Problems()
    parsed = _parse_common(
        problems, activity=activity, occurred_on=occurred_on, note=note, key=idempotency_key
    )
    email = ""
    try:
        email = _parse_email(member_email)
    except ValidationFailed as exc:
        problems.take(exc)
    amount = Decimal(0)
    try:
        amount = parse_quantity(quantity)
    except InvalidQuantity as exc:
        problems.take(exc)
    problems.raise_if_any()

    namespaced = f"award:{coordinator_id}:{parsed.key}"
    request_hash = fingerprint(
        {
            "kind": RECORD,
            "activity": parsed.activity_slug,
            "occurred_on": parsed.occurred_on.isoformat(),
            "lines": [[email, str(amount)]],
            "note": parsed.note,
        }
    )
    replayed = _replay(session, namespaced, request_hash)
    if replayed is not None:
        return replayed

    act = _activity_for_award(session, parsed.activity_slug)
    assert act.id is not None
    _check_date(session, parsed.occurred_on, now)
    if not coordinates_activity(session, coordinator_id, act.id):
        raise NotYourGroup(
            T("you do not coordinate a group that does %(activity)s", activity=act.name)
        )
    person = eligible_member(session, coordinator_id, act.id, email)
    if person is None:
        raise UnknownMember(
            T(
                "there is no member %(email)s in your groups that do %(activity)s",
                email=email,
                activity=act.name,
            ),
            errors={"member_email": [T("not a member of your groups for this activity")]},
        )
    if person.id == coordinator_id:
        raise SelfAward(T("you cannot award credits to yourself: ask another coordinator"))
    credits = credits_for(amount, act.unit, act.credits_per_unit)
    threshold = four_eyes_threshold(session)
    return _create(
        session,
        who,
        kind=RECORD,
        activity=act,
        parsed=parsed,
        lines=[_Line(person, amount, credits)],
        namespaced=namespaced,
        request_hash=request_hash,
        needs_officer=credits > threshold,
    )


def record_session(
    session: Session,
    who: Principal,
    *,
    activity: Any,
    occurred_on: Any,
    lines: Any,
    idempotency_key: Any,
    note: Any = "",
    now: datetime | None = None,
) -> AwardView:
    """A coordinator records a whole session's attendance: ``lines`` of
    ``{"member_email", "quantity"}``. All or nothing: if any line fails, LinesRefused lists
    every failing line (1-based ``line``) and nothing is written; otherwise ONE balanced
    entry posts every member's credits (or, if any line is above the four-eyes threshold,
    the whole sheet waits for an officer)."""
    coordinator_id = require_role(who, Role.COORDINATOR)
    problems = Problems()
    parsed = _parse_common(
        problems, activity=activity, occurred_on=occurred_on, note=note, key=idempotency_key
    )
    if not isinstance(lines, list) or not lines:
        problems.add("lines", T("list at least one member and quantity"))
    elif len(lines) > MAX_SHEET_LINES:
        problems.add("lines", T("at most %(count)s lines in one sheet", count=MAX_SHEET_LINES))
    problems.raise_if_any()

    failing: list[dict[str, Any]] = []
    wanted: list[tuple[int, str, Decimal]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(lines, 1):
        if not isinstance(raw, dict):
            failing.append(
                {
                    "line": index,
                    "member_email": None,
                    "code": "validation_error",
                    "detail": T("each line is an object with member_email and quantity"),
                }
            )
            continue
        line_problems = Problems()
        email = ""
        try:
            email = _parse_email(raw.get("member_email"))
        except ValidationFailed as exc:
            line_problems.take(exc)
        amount = Decimal(0)
        try:
            amount = parse_quantity(raw.get("quantity"))
        except InvalidQuantity as exc:
            line_problems.take(exc)
        if email and email in seen:
            line_problems.add("member_email", T("already on line %(line)s", line=seen[email]))
        elif email:
            seen[email] = index
        if line_problems.errors:
            failing.append(
                {
                    "line": index,
                    "member_email": raw.get("member_email")
                    if isinstance(raw.get("member_email"), str)
                    else None,
                    "code": "validation_error",
                    "detail": "; ".join(
                        f"{field}: {m}" for field, ms in line_problems.errors.items() for m in ms
                    ),
                    "errors": line_problems.errors,
                }
            )
            continue
        wanted.append((index, email, amount))
    if failing:
        raise LinesRefused(
            Tn(
                "%(num)s line is not valid; nothing was posted",
                "%(num)s lines are not valid; nothing was posted",
                len(failing),
            ),
            failing,
        )

    namespaced = f"award:{coordinator_id}:{parsed.key}"
    request_hash = fingerprint(
        {
            "kind": SESSION,
            "activity": parsed.activity_slug,
            "occurred_on": parsed.occurred_on.isoformat(),
            "lines": [[e, str(q)] for _, e, q in wanted],
            "note": parsed.note,
        }
    )
    replayed = _replay(session, namespaced, request_hash)
    if replayed is not None:
        return replayed

    act = _activity_for_award(session, parsed.activity_slug)
    assert act.id is not None
    _check_date(session, parsed.occurred_on, now)
    if not coordinates_activity(session, coordinator_id, act.id):
        raise NotYourGroup(
            T("you do not coordinate a group that does %(activity)s", activity=act.name)
        )
    members = eligible_members(session, coordinator_id, act.id)
    good: list[_Line] = []
    line_of: dict[int, tuple[int, str]] = {}  # person id -> (line number, email)
    for index, email, amount in wanted:
        person = members.get(email)
        problem: CreditsError | None = None
        if person is None:
            problem = UnknownMember(
                T(
                    "there is no member %(email)s in your groups that do %(activity)s",
                    email=email,
                    activity=act.name,
                )
            )
        elif person.id == coordinator_id:
            problem = SelfAward(T("you cannot award credits to yourself"))
        else:
            try:
                credits = credits_for(amount, act.unit, act.credits_per_unit)
            except InvalidQuantity as exc:
                problem = exc
            else:
                good.append(_Line(person, amount, credits))
                line_of[person.id] = (index, email)
        if problem is not None:
            failing.append(_cap_line(index, email, problem))
    if failing:
        # Report the cap problems of the other lines too, so that one correction fixes the
        # whole sheet (advice only: nothing is posted either way).
        check = limits.check(session, act, parsed.occurred_on, _asks(good), lock=False)
        for person_id, cap_problem in check.caps.items():
            failing.append(_cap_line(*line_of[person_id], cap_problem))
        raise LinesRefused(
            Tn(
                "%(num)s line cannot be awarded; nothing was posted",
                "%(num)s lines cannot be awarded; nothing was posted",
                len(failing),
            ),
            sorted(failing, key=lambda x: x["line"]),
        )
    threshold = four_eyes_threshold(session)
    return _create(
        session,
        who,
        kind=SESSION,
        activity=act,
        parsed=parsed,
        lines=good,
        namespaced=namespaced,
        request_hash=request_hash,
        needs_officer=any(x.credits > threshold for x in good),
    )


# --- volunteers claim -----------------------------------------------------------------------


def file_claim(
    session: Session,
    who: Principal,
    *,
    activity: Any,
    quantity: Any,
    occurred_on: Any,
    idempotency_key: Any,
    note: Any = "",
    now: datetime | None = None,
) -> AwardView:
    """A member claims a session they did, for an activity of one of their groups. It waits
    (``pending``) for a coordinator of such a group, or an officer. A claim that could not
    be paid now (cap or budget already used up) is refused at once; the limits are checked
    again, under lock, when it is approved."""
    member_id = require_role(who, Role.MEMBER)
    problems = Problems()
    parsed = _parse_common(
        problems, activity=activity, occurred_on=occurred_on, note=note, key=idempotency_key
    )
    amount = Decimal(0)
    try:
        amount = parse_quantity(quantity)
    except InvalidQuantity as exc:
        problems.take(exc)
    problems.raise_if_any()

    namespaced = f"award:{member_id}:{parsed.key}"
    request_hash = fingerprint(
        {
            "kind": CLAIM,
            "activity": parsed.activity_slug,
            "occurred_on": parsed.occurred_on.isoformat(),
            "lines": [[member_id, str(amount)]],
            "note": parsed.note,
        }
    )
    replayed = _replay(session, namespaced, request_hash)
    if replayed is not None:
        return replayed

    act = _activity_for_award(session, parsed.activity_slug)
    assert act.id is not None
    _check_date(session, parsed.occurred_on, now)
    if act.id not in member_activity_ids(session, member_id):
        raise NotInGroup(
            T(
                "you are not in a group that does %(activity)s: ask the council to add you to one",
                activity=act.name,
            ),
            errors={"activity": [T("not an activity of your groups")]},
        )
    credits = credits_for(amount, act.unit, act.credits_per_unit)
    person = session.get(Person, member_id)
    assert person is not None and person.id is not None
    line = _Line(PersonRef(person.id, person.name, person.email), amount, credits)
    limits.check(session, act, parsed.occurred_on, _asks([line]), lock=False).raise_first()
    award = Award(
        kind=CLAIM,
        state=PENDING,
        activity_id=act.id,
        occurred_on=parsed.occurred_on,
        unit=act.unit,
        credits_per_unit=act.credits_per_unit,
        total_credits=credits,
        line_count=1,
        note=parsed.note,
        idempotency_key=namespaced,
        request_hash=request_hash,
        needs_officer=credits > four_eyes_threshold(session),
        created_by_person_id=member_id,
        created_by=who.actor,
        created_at=utcnow(),
    )
    _insert_award(session, award, [line])
    assert award.id is not None
    return load_award(session, award.id)


# --- decisions ------------------------------------------------------------------------------


def _lock_award(session: Session, award_id: Any) -> Award:
    if type(award_id) is not int:
        raise AwardNotFound(f"no award {award_id!r}")
    row = session.execute(
        select(Award)
        .where(T_AWARD.c.id == award_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        raise AwardNotFound(f"no award {award_id}")
    return row


def _line_rows(session: Session, award_id: int) -> list[tuple[int, int, int]]:
    """(person id, quantity hundredths, credits) of an award, by line id."""
    return [
        (int(p), int(q), int(c))
        for p, q, c in session.execute(
            select(T_LINE.c.person_id, T_LINE.c.quantity_centi, T_LINE.c.credits)
            .where(T_LINE.c.award_id == award_id)
            .order_by(T_LINE.c.id)
        )
    ]


def _ensure_visible(
    session: Session, who: Principal, award: Award, lines: list[tuple[int, int, int]]
) -> None:
    """Officers see every award; a coordinator only those for their groups' people."""
    if who.role is Role.OFFICER:
        return
    assert who.person_id is not None
    if who.role is Role.COORDINATOR and all(
        can_act_for(session, who.person_id, p, award.activity_id) for p, _, _ in lines
    ):
        return
    if who.role is Role.COORDINATOR and award.created_by_person_id == who.person_id:
        return
    raise AwardNotFound(f"no award {award.id}")


def _decided(session: Session, award: Award) -> AwardNotPending:
    assert award.id is not None
    view = load_award(session, award.id)
    step = (
        view.rejection if award.state == REJECTED else (view.second_approval or view.first_approval)
    )
    values: dict[str, Any] = {"award": str(award.id)}
    if step and step.person:
        values.update(name=step.person.name, when=step.at)
        text = (
            T("award %(award)s was already rejected by %(name)s, %(when)s", **values)
            if award.state == REJECTED
            else T(
                "award %(award)s was already approved and posted by %(name)s, %(when)s", **values
            )
        )
    else:
        text = (
            T("award %(award)s was already rejected", **values)
            if award.state == REJECTED
            else T("award %(award)s was already approved and posted", **values)
        )
    return AwardNotPending(text, state=award.state, award_id=award.id)


def _post_existing(
    session: Session, who: Principal, award: Award, lines: list[tuple[int, int, int]]
) -> None:
    """Post an award being approved: limits under lock, then its one entry."""
    assert award.id is not None
    activity = session.get(Activity, award.activity_id)
    assert activity is not None
    dates.ensure_open(session, award.occurred_on)
    names = dict(
        session.execute(
            select(T_PERSON.c.id, T_PERSON.c.name).where(
                T_PERSON.c.id.in_([p for p, _, _ in lines])
            )
        ).all()
    )
    asks = [limits.LineAsk(p, names.get(p, f"person {p}"), c) for p, _, c in lines]
    check = limits.check(session, activity, award.occurred_on, asks, lock=True)
    if not check.ok:
        if award.kind == SESSION and check.caps:
            emails = dict(
                session.execute(
                    select(T_PERSON.c.id, T_PERSON.c.email).where(
                        T_PERSON.c.id.in_([p for p, _, _ in lines])
                    )
                ).all()
            )
            index = {p: i for i, (p, _, _) in enumerate(lines, 1)}
            raise LinesRefused(
                T("some lines would now exceed a cap; nothing was posted"),
                sorted(
                    (
                        _cap_line(index[p], emails.get(p, ""), problem)
                        for p, problem in check.caps.items()
                    ),
                    key=lambda x: x["line"],
                ),
            )
        check.raise_first()
    limits.apply(session, activity, award.occurred_on, asks)
    entry = _post_entry(
        session,
        who,
        kind=award.kind,
        activity=activity,
        day=award.occurred_on,
        award_key=award.idempotency_key,
        lines=lines,
    )
    award.state = POSTED
    award.entry_id = entry.id
    award.posted_at = utcnow()


def approve(session: Session, who: Principal, award_id: Any, *, idempotency_key: Any) -> AwardView:
    """Approve an award: a pending claim (its first approval), or an award awaiting an officer
    (the second). See the module docstring for who may do which; the same person with the
    same key again gets the award back as it now is."""
    person_id = require_role(who, Role.COORDINATOR, Role.OFFICER)
    key = check_client_key(idempotency_key)
    award = _lock_award(session, award_id)
    assert award.id is not None
    lines = _line_rows(session, award.id)
    _ensure_visible(session, who, award, lines)
    if (award.first_approver_id == person_id and award.first_approval_key == key) or (
        award.second_approver_id == person_id and award.second_approval_key == key
    ):
        return replace(load_award(session, award.id), replayed=True)
    if award.state in (POSTED, REJECTED):
        raise _decided(session, award)
    if any(p == person_id for p, _, _ in lines):
        raise SelfAward(T("you cannot approve credits for yourself"))
    now = utcnow()
    if award.state == PENDING:
        if who.role is Role.COORDINATOR and not all(
            can_act_for(session, person_id, p, award.activity_id) for p, _, _ in lines
        ):
            raise NotYourGroup(T("this claim is not for one of your groups"))
        threshold = four_eyes_threshold(session)
        award.needs_officer = any(c > threshold for _, _, c in lines)
        award.first_approver_id = person_id
        award.first_approved_by = who.actor
        award.first_approved_at = now
        award.first_approval_key = key
        if award.needs_officer:
            activity = session.get(Activity, award.activity_id)
            assert activity is not None
            names = dict(
                session.execute(
                    select(T_PERSON.c.id, T_PERSON.c.name).where(
                        T_PERSON.c.id.in_([p for p, _, _ in lines])
                    )
                ).all()
            )
            asks = [limits.LineAsk(p, names[p], c) for p, _, c in lines]
            limits.check(session, activity, award.occurred_on, asks, lock=False).raise_first()
            award.state = AWAITING_OFFICER
        else:
            _post_existing(session, who, award, lines)
    else:
        assert award.state == AWAITING_OFFICER
        if who.role is not Role.OFFICER:
            raise SecondApproverRequired(T("this award is waiting for an officer's approval"))
        if award.first_approver_id == person_id:
            raise SecondApproverRequired(
                T(
                    "you gave this award its first approval: a different officer must give the "
                    "second"
                )
            )
        award.second_approver_id = person_id
        award.second_approved_by = who.actor
        award.second_approved_at = now
        award.second_approval_key = key
        _post_existing(session, who, award, lines)
    session.add(award)
    session.flush()
    audit.record(session, who, "award.approve", f"award:{award.id}")
    return load_award(session, award.id)


def reject(session: Session, who: Principal, award_id: Any, *, reason: Any) -> AwardView:
    """Reject a pending claim (its coordinator or an officer) or an award awaiting an officer
    (an officer), recording why. Nothing is posted. Rejecting again, by the same person,
    returns the award as it is."""
    person_id = require_role(who, Role.COORDINATOR, Role.OFFICER)
    problems = Problems()
    why = text_field(problems, "reason", reason, max_chars=MAX_REASON_CHARS)
    problems.raise_if_any()
    award = _lock_award(session, award_id)
    assert award.id is not None
    lines = _line_rows(session, award.id)
    _ensure_visible(session, who, award, lines)
    if award.state == REJECTED and award.rejected_by_id == person_id:
        return replace(load_award(session, award.id), replayed=True)
    if award.state in (POSTED, REJECTED):
        raise _decided(session, award)
    if any(p == person_id for p, _, _ in lines):
        raise SelfAward(T("you cannot decide on credits for yourself"))
    if award.state == AWAITING_OFFICER and who.role is not Role.OFFICER:
        raise SecondApproverRequired(
            T("this award is waiting for an officer: only an officer decides")
        )
    if (
        award.state == PENDING
        and who.role is Role.COORDINATOR
        and not all(can_act_for(session, person_id, p, award.activity_id) for p, _, _ in lines)
    ):
        raise NotYourGroup(T("this claim is not for one of your groups"))
    award.state = REJECTED
    award.rejected_by_id = person_id
    award.rejected_by = who.actor
    award.rejected_at = utcnow()
    award.reject_reason = why
    session.add(award)
    session.flush()
    audit.record(session, who, "award.reject", f"award:{award.id}", reason=str(reason)[:200])
    return load_award(session, award.id)


# --- reading --------------------------------------------------------------------------------


def load_awards(session: Session, award_ids: Sequence[int]) -> list[AwardView]:
    """Awards by id (in the order given), with their lines, people and activity."""
    if not award_ids:
        return []
    awards = {
        a.id: a for a in session.execute(select(Award).where(T_AWARD.c.id.in_(award_ids))).scalars()
    }
    activity_ids = {a.activity_id for a in awards.values()}
    activities = {
        int(i): ActivityRef(s, n)
        for i, s, n in session.execute(
            select(T_ACTIVITY.c.id, T_ACTIVITY.c.slug, T_ACTIVITY.c.name).where(
                T_ACTIVITY.c.id.in_(activity_ids)
            )
        )
    }
    line_rows = session.execute(
        select(T_LINE.c.award_id, T_LINE.c.person_id, T_LINE.c.quantity_centi, T_LINE.c.credits)
        .where(T_LINE.c.award_id.in_(list(awards)))
        .order_by(T_LINE.c.award_id, T_LINE.c.id)
    ).all()
    people_ids = {int(r[1]) for r in line_rows}
    for a in awards.values():
        people_ids.update(
            x
            for x in (
                a.created_by_person_id,
                a.first_approver_id,
                a.second_approver_id,
                a.rejected_by_id,
            )
            if x is not None
        )
    people = {
        int(i): PersonRef(int(i), n, e)
        for i, n, e in session.execute(
            select(T_PERSON.c.id, T_PERSON.c.name, T_PERSON.c.email).where(
                T_PERSON.c.id.in_(people_ids)
            )
        )
    }
    lines_by_award: dict[int, list[LineView]] = {}
    for award_id, person_id, centi, credits in line_rows:
        lines_by_award.setdefault(int(award_id), []).append(
            LineView(people[int(person_id)], int(centi), int(credits))
        )

    def step(person_id: int | None, actor: str | None, at: datetime | None) -> Step | None:
        if actor is None or at is None:
            return None
        return Step(people.get(person_id) if person_id is not None else None, actor, at)

    out = []
    for award_id in award_ids:
        a = awards.get(award_id)
        if a is None:
            continue
        assert a.id is not None
        created = step(a.created_by_person_id, a.created_by, a.created_at)
        assert created is not None
        out.append(
            AwardView(
                id=a.id,
                kind=a.kind,
                state=a.state,
                activity=activities[a.activity_id],
                unit=a.unit,
                credits_per_unit=a.credits_per_unit,
                occurred_on=a.occurred_on,
                total_credits=a.total_credits,
                lines=tuple(lines_by_award.get(a.id, [])),
                note=a.note,
                needs_officer=a.needs_officer,
                created=created,
                first_approval=step(a.first_approver_id, a.first_approved_by, a.first_approved_at),
                second_approval=step(
                    a.second_approver_id, a.second_approved_by, a.second_approved_at
                ),
                rejection=step(a.rejected_by_id, a.rejected_by, a.rejected_at),
                reject_reason=a.reject_reason,
                entry_id=a.entry_id,
                posted_at=a.posted_at,
            )
        )
    return out


def load_award(session: Session, award_id: int) -> AwardView:
    """One award; :class:`AwardNotFound` if there is none."""
    found = load_awards(session, [award_id])
    if not found:
        raise AwardNotFound(f"no award {award_id}")
    return found[0]


def get_award(session: Session, who: Principal, award_id: Any) -> AwardView:
    """An award as the caller may see it: officers any; a coordinator one for their groups'
    people (or one they recorded); a member only their own claim."""
    if type(award_id) is not int:
        raise AwardNotFound(f"no award {award_id!r}")
    award = session.get(Award, award_id)
    if award is None:
        raise AwardNotFound(f"no award {award_id}")
    lines = _line_rows(session, award_id)
    if who.role is Role.MEMBER:
        if award.kind != CLAIM or award.created_by_person_id != who.person_id:
            raise AwardNotFound(f"no award {award_id}")
    else:
        require_role(who, Role.COORDINATOR, Role.OFFICER)
        _ensure_visible(session, who, award, lines)
    return load_award(session, award_id)


def _page(query: Any, before: int | None, limit: int) -> Any:
    if before is not None:
        query = query.where(T_AWARD.c.id < before)
    return query.order_by(T_AWARD.c.id.desc()).limit(limit)


def member_claims(
    session: Session, who: Principal, *, before: int | None = None, limit: int = 20
) -> list[AwardView]:
    """The member's own claims, newest first (``before``: an award id cursor)."""
    member_id = require_role(who, Role.MEMBER)
    ids = session.execute(
        _page(
            select(T_AWARD.c.id).where(
                T_AWARD.c.kind == CLAIM, T_AWARD.c.created_by_person_id == member_id
            ),
            before,
            limit,
        )
    ).scalars()
    return load_awards(session, [int(i) for i in ids])


def _in_scope_of(coordinator_id: int) -> Any:
    """SQL condition: every line of the award is for a member of an active group the
    coordinator runs that does the award's activity (a claim has one line)."""
    gm, gc, ga, g = T_GROUP_MEMBER, T_GROUP_COORDINATOR, T_GROUP_ACTIVITY, T_GROUP
    return exists(
        select(gm.c.person_id)
        .join(gc, and_(gc.c.group_id == gm.c.group_id, gc.c.person_id == coordinator_id))
        .join(ga, and_(ga.c.group_id == gm.c.group_id, ga.c.activity_id == T_AWARD.c.activity_id))
        .join(g, and_(g.c.id == gm.c.group_id, g.c.active.is_(True)))
        .join(T_LINE, and_(T_LINE.c.award_id == T_AWARD.c.id, T_LINE.c.person_id == gm.c.person_id))
    )


def queue(
    session: Session,
    who: Principal,
    *,
    stage: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[AwardView]:
    """What waits for the caller's decision, newest first.

    A coordinator: pending claims of their groups' members for their groups' activities.
    An officer: every pending claim (``stage="first"``) and every award awaiting an officer
    (``stage="officer"``); both when ``stage`` is None. Never the caller's own awards.
    """
    person_id = require_role(who, Role.COORDINATOR, Role.OFFICER)
    if who.role is Role.COORDINATOR or stage == "first":
        states = [PENDING]
    elif stage == "officer":
        states = [AWAITING_OFFICER]
    else:
        states = [PENDING, AWAITING_OFFICER]
    # Nobody decides on credits for themselves, so their own awards are not in their queue.
    query = select(T_AWARD.c.id).where(
        T_AWARD.c.state.in_(states),
        ~exists(
            select(T_LINE.c.id).where(
                T_LINE.c.award_id == T_AWARD.c.id, T_LINE.c.person_id == person_id
            )
        ),
    )
    if who.role is Role.COORDINATOR:
        query = query.where(_in_scope_of(person_id))
    ids = session.execute(_page(query, before, limit)).scalars()
    return load_awards(session, [int(i) for i in ids])


def recent_for_coordinator(session: Session, who: Principal, *, limit: int = 20) -> list[AwardView]:
    """Awards the coordinator recorded or approved, newest first (their own log)."""
    person_id = require_role(who, Role.COORDINATOR)
    ids = session.execute(
        select(T_AWARD.c.id)
        .where(
            (T_AWARD.c.created_by_person_id == person_id)
            | (T_AWARD.c.first_approver_id == person_id)
            | (T_AWARD.c.rejected_by_id == person_id)
        )
        .order_by(T_AWARD.c.id.desc())
        .limit(limit)
    ).scalars()
    return load_awards(session, [int(i) for i in ids])
