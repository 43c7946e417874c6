"""Volunteer groups: who coordinates whom, for which activities.

A group (e.g. "Acre Lane snow team") does one or more activities, has one or more
coordinators and any number of members. Officers manage groups. **A coordinator sees only
their own groups' people**: they may record and approve awards only for a member of an
active group they coordinate, for an activity of that same group, and every listing they
get is limited to those people. A member may claim only activities of their active groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.orm import Session

from credits import audit
from credits.accounts import Principal, Role
from credits.accounts.models import Person, PersonRole
from credits.accounts.service import normalise_email
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.earning.errors import GroupExists, GroupNotFound, UnknownMember
from credits.earning.models import (
    T_ACTIVITY,
    T_GROUP,
    T_GROUP_ACTIVITY,
    T_GROUP_COORDINATOR,
    T_GROUP_MEMBER,
    Activity,
    VolunteerGroup,
)
from credits.earning.request_checks import Problems, require_role, text_field
from credits.errors import ValidationFailed
from credits.i18n import T

T_PERSON = Person.__table__  # type: ignore[attr-defined]
T_ROLE = PersonRole.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A person as the earning pages and API show them."""

    id: int
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class ActivityRef:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class GroupView:
    id: int
    name: str
    description: str
    active: bool
    activities: tuple[ActivityRef, ...]
    coordinators: tuple[PersonRef, ...]
    members: tuple[PersonRef, ...]
    member_count: int


# --- who may act for whom ---------------------------------------------------------------------


def _coordinated(coordinator_id: int, activity_id: int | None = None) -> Any:
    """Group ids of active groups ``coordinator_id`` runs (doing ``activity_id``, if given)."""
    query = (
        select(T_GROUP_COORDINATOR.c.group_id)
        .join(T_GROUP, T_GROUP.c.id == T_GROUP_COORDINATOR.c.group_id)
        .where(T_GROUP_COORDINATOR.c.person_id == coordinator_id, T_GROUP.c.active.is_(True))
    )
    if activity_id is not None:
        query = query.join(
            T_GROUP_ACTIVITY,
            and_(
                T_GROUP_ACTIVITY.c.group_id == T_GROUP_COORDINATOR.c.group_id,
                T_GROUP_ACTIVITY.c.activity_id == activity_id,
            ),
        )
    return query


def coordinates_activity(session: Session, coordinator_id: int, activity_id: int) -> bool:
    """Whether the coordinator runs an active group that does ``activity_id``."""
    return session.execute(_coordinated(coordinator_id, activity_id).limit(1)).first() is not None


def eligible_members(
    session: Session, coordinator_id: int, activity_id: int
) -> dict[str, PersonRef]:
    """Members (by email) the coordinator may award for ``activity_id``."""
    groups = _coordinated(coordinator_id, activity_id).subquery()
    rows = session.execute(
        select(T_PERSON.c.id, T_PERSON.c.name, T_PERSON.c.email)
        .join(T_GROUP_MEMBER, T_GROUP_MEMBER.c.person_id == T_PERSON.c.id)
        .where(T_GROUP_MEMBER.c.group_id.in_(select(groups.c.group_id)))
        .distinct()
    )
    return {email: PersonRef(int(i), name, email) for i, name, email in rows}


def eligible_member(
    session: Session, coordinator_id: int, activity_id: int, email: str
) -> PersonRef | None:
    """The member with ``email``, if the coordinator may award them for ``activity_id``."""
    groups = _coordinated(coordinator_id, activity_id).subquery()
    row = session.execute(
        select(T_PERSON.c.id, T_PERSON.c.name, T_PERSON.c.email)
        .join(T_GROUP_MEMBER, T_GROUP_MEMBER.c.person_id == T_PERSON.c.id)
        .where(
            T_PERSON.c.email == email,
            T_GROUP_MEMBER.c.group_id.in_(select(groups.c.group_id)),
        )
        .limit(1)
    ).first()
    return None if row is None else PersonRef(int(row[0]), row[1], row[2])


def can_act_for(session: Session, coordinator_id: int, person_id: int, activity_id: int) -> bool:
    """Whether the coordinator may award or approve for this member and activity."""
    groups = _coordinated(coordinator_id, activity_id).subquery()
    return (
        session.execute(
            select(T_GROUP_MEMBER.c.person_id)
            .where(
                T_GROUP_MEMBER.c.person_id == person_id,
                T_GROUP_MEMBER.c.group_id.in_(select(groups.c.group_id)),
            )
            .limit(1)
        ).first()
        is not None
    )


def coordinates_member(session: Session, coordinator_id: int, person_id: int) -> bool:
    """Whether ``person_id`` belongs to an active group the coordinator runs (whatever the
    activity): who a coordinator may look after, e.g. print a statement for."""
    groups = _coordinated(coordinator_id).subquery()
    found = session.execute(
        select(T_GROUP_MEMBER.c.person_id)
        .where(
            T_GROUP_MEMBER.c.person_id == person_id,
            T_GROUP_MEMBER.c.group_id.in_(select(groups.c.group_id)),
        )
        .limit(1)
    ).first()
    return found is not None


def coordinator_scope(session: Session, coordinator_id: int) -> set[tuple[int, int]]:
    """Every (member id, activity id) pair the coordinator may act for."""
    groups = _coordinated(coordinator_id).subquery()
    rows = session.execute(
        select(T_GROUP_MEMBER.c.person_id, T_GROUP_ACTIVITY.c.activity_id)
        .join(T_GROUP_ACTIVITY, T_GROUP_ACTIVITY.c.group_id == T_GROUP_MEMBER.c.group_id)
        .where(T_GROUP_MEMBER.c.group_id.in_(select(groups.c.group_id)))
        .distinct()
    )
    return {(int(p), int(a)) for p, a in rows}


def member_activity_ids(session: Session, person_id: int) -> set[int]:
    """Activities the member may claim: those of the active groups they belong to."""
    rows = session.execute(
        select(T_GROUP_ACTIVITY.c.activity_id)
        .join(T_GROUP_MEMBER, T_GROUP_MEMBER.c.group_id == T_GROUP_ACTIVITY.c.group_id)
        .join(T_GROUP, T_GROUP.c.id == T_GROUP_ACTIVITY.c.group_id)
        .where(T_GROUP_MEMBER.c.person_id == person_id, T_GROUP.c.active.is_(True))
        .distinct()
    )
    return {int(r[0]) for r in rows}


# --- reading groups -----------------------------------------------------------------------------


def _view(session: Session, group: VolunteerGroup, *, with_members: bool) -> GroupView:
    assert group.id is not None
    activities = tuple(
        ActivityRef(slug, name)
        for slug, name in session.execute(
            select(T_ACTIVITY.c.slug, T_ACTIVITY.c.name)
            .join(T_GROUP_ACTIVITY, T_GROUP_ACTIVITY.c.activity_id == T_ACTIVITY.c.id)
            .where(T_GROUP_ACTIVITY.c.group_id == group.id)
            .order_by(T_ACTIVITY.c.name)
        )
    )
    coordinators = tuple(
        PersonRef(int(i), n, e)
        for i, n, e in session.execute(
            select(T_PERSON.c.id, T_PERSON.c.name, T_PERSON.c.email)
            .join(T_GROUP_COORDINATOR, T_GROUP_COORDINATOR.c.person_id == T_PERSON.c.id)
            .where(T_GROUP_COORDINATOR.c.group_id == group.id)
            .order_by(T_PERSON.c.name)
        )
    )
    members: tuple[PersonRef, ...] = ()
    if with_members:
        members = tuple(
            PersonRef(int(i), n, e)
            for i, n, e in session.execute(
                select(T_PERSON.c.id, T_PERSON.c.name, T_PERSON.c.email)
                .join(T_GROUP_MEMBER, T_GROUP_MEMBER.c.person_id == T_PERSON.c.id)
                .where(T_GROUP_MEMBER.c.group_id == group.id)
                .order_by(T_PERSON.c.name, T_PERSON.c.id)
            )
        )
        count = len(members)
    else:
        count = int(
            session.execute(
                select(func.count()).where(T_GROUP_MEMBER.c.group_id == group.id)
            ).scalar_one()
        )
    return GroupView(
        id=group.id,
        name=group.name,
        description=group.description,
        active=group.active,
        activities=activities,
        coordinators=coordinators,
        members=members,
        member_count=count,
    )


def _visible_group(session: Session, who: Principal, group_id: Any) -> VolunteerGroup:
    """The group, if the caller may see it: officers see all, a coordinator their own."""
    group = session.get(VolunteerGroup, group_id) if type(group_id) is int else None
    if group is None:
        raise GroupNotFound(f"no group {group_id}")
    if who.role is Role.OFFICER:
        return group
    person_id = require_role(who, Role.COORDINATOR, Role.OFFICER)
    runs = session.execute(
        select(T_GROUP_COORDINATOR.c.group_id).where(
            T_GROUP_COORDINATOR.c.group_id == group_id,
            T_GROUP_COORDINATOR.c.person_id == person_id,
        )
    ).first()
    if runs is None:
        # Not 403: a coordinator does not learn which other groups exist.
        raise GroupNotFound(f"no group {group_id}")
    return group


def get_group(session: Session, who: Principal, group_id: Any) -> GroupView:
    """A group with its members (officers; or a coordinator of that group)."""
    return _view(session, _visible_group(session, who, group_id), with_members=True)


def list_groups(session: Session, who: Principal) -> list[GroupView]:
    """Officers: every group. Coordinators: the groups they run (active or not)."""
    person_id = require_role(who, Role.COORDINATOR, Role.OFFICER)
    query = select(VolunteerGroup).order_by(T_GROUP.c.name)
    if who.role is Role.COORDINATOR:
        query = query.where(
            T_GROUP.c.id.in_(
                select(T_GROUP_COORDINATOR.c.group_id).where(
                    T_GROUP_COORDINATOR.c.person_id == person_id
                )
            )
        )
    return [_view(session, g, with_members=False) for g in session.execute(query).scalars()]


# --- managing groups (officers) -------------------------------------------------------------


def _activity_ids(session: Session, problems: Problems, slugs: Any) -> list[int]:
    if not isinstance(slugs, list | tuple) or not all(isinstance(s, str) for s in slugs):
        problems.add("activities", T("must be a list of activity slugs"))
        return []
    if len(slugs) > 50:
        problems.add("activities", T("at most 50 activities"))
        return []
    found = dict(
        session.execute(
            select(T_ACTIVITY.c.slug, T_ACTIVITY.c.id).where(T_ACTIVITY.c.slug.in_(set(slugs)))
        ).all()
    )
    for slug in slugs:
        if slug not in found:
            problems.add("activities", T("no activity '%(slug)s'", slug=slug))
    return sorted({int(found[s]) for s in slugs if s in found})


def _set_activities(session: Session, group_id: int, activity_ids: list[int]) -> None:
    session.execute(delete(T_GROUP_ACTIVITY).where(T_GROUP_ACTIVITY.c.group_id == group_id))
    if activity_ids:
        session.execute(
            insert(T_GROUP_ACTIVITY),
            [{"group_id": group_id, "activity_id": a} for a in activity_ids],
        )


def _flush_named(session: Session, name: str) -> None:
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "name"):
            raise GroupExists(T("there is already a group called '%(name)s'", name=name)) from exc
        raise


def create_group(session: Session, who: Principal, values: dict[str, Any]) -> GroupView:
    """Create a group with its activities (officers). Names are unique (``group_exists``)."""
    require_role(who, Role.OFFICER)
    problems = Problems()
    name = text_field(problems, "name", values.get("name"), max_chars=120)
    description = text_field(
        problems, "description", values.get("description"), max_chars=500, required=False
    )
    activity_ids = _activity_ids(session, problems, values.get("activities", []))
    problems.raise_if_any()
    if session.execute(select(T_GROUP.c.id).where(T_GROUP.c.name == name)).first():
        raise GroupExists(T("there is already a group called '%(name)s'", name=name))
    now = utcnow()
    group = VolunteerGroup(
        name=name,
        description=description,
        active=True,
        created_at=now,
        created_by=who.actor,
        updated_at=now,
        updated_by=who.actor,
    )
    session.add(group)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "name"):
            raise RetryTransaction("group created concurrently") from exc
        raise
    assert group.id is not None
    _set_activities(session, group.id, activity_ids)
    audit.record(session, who, "group.create", f"group:{group.id}", name=group.name)
    return _view(session, group, with_members=True)


def update_group(
    session: Session, who: Principal, group_id: Any, values: dict[str, Any]
) -> GroupView:
    """Rename, describe, (de)activate a group or replace its activities (officers)."""
    require_role(who, Role.OFFICER)
    group = _visible_group(session, who, group_id)
    assert group.id is not None
    problems = Problems()
    changes: dict[str, Any] = {}
    if "name" in values:
        changes["name"] = text_field(problems, "name", values["name"], max_chars=120)
    if "description" in values:
        changes["description"] = text_field(
            problems, "description", values["description"], max_chars=500, required=False
        )
    if "active" in values:
        if not isinstance(values["active"], bool):
            problems.add("active", T("must be true or false"))
        else:
            changes["active"] = values["active"]
    activity_ids = None
    if "activities" in values:
        activity_ids = _activity_ids(session, problems, values["activities"])
    problems.raise_if_any()
    name = changes.get("name", group.name)
    clash = session.execute(
        select(T_GROUP.c.id).where(T_GROUP.c.name == name, T_GROUP.c.id != group.id)
    ).first()
    if clash is not None:
        raise GroupExists(T("there is already a group called '%(name)s'", name=name))
    for field, value in changes.items():
        setattr(group, field, value)
    group.updated_at = utcnow()
    group.updated_by = who.actor
    session.add(group)
    _flush_named(session, group.name)
    if activity_ids is not None:
        _set_activities(session, group.id, activity_ids)
    audit.record(session, who, "group.update", f"group:{group.id}", name=group.name)
    return _view(session, group, with_members=True)


def _person_with_role(session: Session, email: Any, role: Role) -> PersonRef:
    try:
        address = normalise_email(email if isinstance(email, str) else "")
    except ValidationFailed as exc:
        raise ValidationFailed(
            T("that is not an email address"), errors={"email": [T("Not a valid email address.")]}
        ) from exc
    row = session.execute(
        select(T_PERSON.c.id, T_PERSON.c.name, T_PERSON.c.email)
        .join(T_ROLE, and_(T_ROLE.c.person_id == T_PERSON.c.id, T_ROLE.c.role == role.value))
        .where(T_PERSON.c.email == address)
    ).first()
    if row is None:
        raise UnknownMember(
            T("there is no %(role)s registered with %(email)s", role=role.value, email=address),
            errors={"email": [T("no %(role)s with this email", role=role.value)]},
        )
    return PersonRef(int(row[0]), row[1], row[2])


def _add(session: Session, who: Principal, table: Any, group_id: Any, person_id: int) -> None:
    exists = session.execute(
        select(table.c.person_id).where(
            table.c.group_id == group_id, table.c.person_id == person_id
        )
    ).first()
    if exists is None:
        session.execute(
            insert(table).values(
                group_id=group_id, person_id=person_id, added_at=utcnow(), added_by=who.actor
            )
        )


def add_member(session: Session, who: Principal, group_id: Any, email: Any) -> GroupView:
    """Add a member (by email) to a group (officers; idempotent)."""
    require_role(who, Role.OFFICER)
    group = _visible_group(session, who, group_id)
    person = _person_with_role(session, email, Role.MEMBER)
    _add(session, who, T_GROUP_MEMBER, group.id, person.id)
    audit.record(session, who, "group.add_member", f"group:{group.id}", email=str(email))
    return _view(session, group, with_members=True)


def add_coordinator(session: Session, who: Principal, group_id: Any, email: Any) -> GroupView:
    """Make someone holding the coordinator role a coordinator of a group (officers)."""
    require_role(who, Role.OFFICER)
    group = _visible_group(session, who, group_id)
    person = _person_with_role(session, email, Role.COORDINATOR)
    _add(session, who, T_GROUP_COORDINATOR, group.id, person.id)
    audit.record(session, who, "group.add_coordinator", f"group:{group.id}", email=str(email))
    return _view(session, group, with_members=True)


def _remove(session: Session, table: Any, group_id: int, person_id: Any, what: str) -> None:
    if type(person_id) is not int:
        raise GroupNotFound(f"no such {what}")
    result = session.execute(
        delete(table).where(table.c.group_id == group_id, table.c.person_id == person_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise GroupNotFound(f"person {person_id} is not a {what} of this group")


def remove_member(session: Session, who: Principal, group_id: Any, person_id: Any) -> GroupView:
    """Take a member out of a group (officers). Their awards and credits are untouched."""
    require_role(who, Role.OFFICER)
    group = _visible_group(session, who, group_id)
    assert group.id is not None
    _remove(session, T_GROUP_MEMBER, group.id, person_id, "member")
    audit.record(session, who, "group.remove_member", f"group:{group.id}", person_id=str(person_id))
    return _view(session, group, with_members=True)


def remove_coordinator(
    session: Session, who: Principal, group_id: Any, person_id: Any
) -> GroupView:
    """Stop someone coordinating a group (officers)."""
    require_role(who, Role.OFFICER)
    group = _visible_group(session, who, group_id)
    assert group.id is not None
    _remove(session, T_GROUP_COORDINATOR, group.id, person_id, "coordinator")
    audit.record(
        session, who, "group.remove_coordinator", f"group:{group.id}", person_id=str(person_id)
    )
    return _view(session, group, with_members=True)


def activity_refs(session: Session, activity_ids: set[int]) -> list[Any]:
    """Activities by id (active ones only), ordered by name: for claim forms."""
    if not activity_ids:
        return []
    return list(
        session.execute(
            select(Activity)
            .where(T_ACTIVITY.c.id.in_(activity_ids), T_ACTIVITY.c.active.is_(True))
            .order_by(T_ACTIVITY.c.name)
        ).scalars()
    )
