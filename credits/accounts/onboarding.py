"""What residents do for themselves without being signed in: register, confirm their email
address, accept an invitation, and reset a forgotten password.

None of these reveals whether an email address is registered: registering with a known
address and asking to reset the password of an unknown one both answer exactly as usual;
the owner of a known address gets an email saying what happened instead.

Rate limits (credits.ratelimit) are checked by the caller in a unit of work of their own
*before* these run (:func:`throttle_registration`, :func:`throttle_reset_request`,
:func:`throttle_link`), so that an attempt counts even when the use case then fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import audit, ratelimit
from credits.accounts import links, mailing
from credits.accounts.models import Person, PersonStatus
from credits.accounts.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, hash_password
from credits.accounts.people import clean_name, find_by_email, revoke_access
from credits.accounts.service import PersonExists, create_person, normalise_email, normalise_phone
from credits.db import utcnow
from credits.errors import CreditsError, ValidationFailed
from credits.i18n import T
from credits.mail import Message

SELF_REGISTRATION = "self-registration"


def check_new_password(password: str | None, *, email: str = "", name: str = "") -> str:
    """A password someone chose: 10–200 characters, and not their email or name."""
    password = password or ""
    problems = []
    if len(password) < MIN_PASSWORD_CHARS:
        problems.append(T("Use at least %(count)s characters.", count=MIN_PASSWORD_CHARS))
    elif len(password) > MAX_PASSWORD_CHARS:
        problems.append(T("Use at most %(count)s characters.", count=MAX_PASSWORD_CHARS))
    elif password.strip().lower() in {email.lower(), name.strip().lower()}:
        problems.append(T("Do not use your email address or name as your password."))
    if problems:
        raise ValidationFailed(T("choose a different password"), errors={"password": problems})
    return password


@dataclass(frozen=True)
class NewPassword:
    """A chosen password and its Argon2id hash, made *before* the unit of work: hashing
    takes ~50 ms and 64 MiB, and must neither hold a transaction open nor make a request
    for a known address faster than one for an unknown address."""

    plain: str
    hash: str

    @classmethod
    def make(cls, plain: str | None, profile: str = "default") -> NewPassword:
        """Check the length and hash it (the email/name check needs the person: later)."""
        plain = check_new_password(plain)
        return cls(plain=plain, hash=hash_password(plain, profile))

    def check_for(self, person_email: str, person_name: str) -> None:
        """Refuse a password equal to the person's email address or name."""
        check_new_password(self.plain, email=person_email, name=person_name)


# --- rate limits (each in its own unit of work, before the use case) --------------------------


def throttle_registration(session: Session, email: str, ip: str) -> None:
    """Count a registration attempt from ``ip`` for ``email``; RateLimited if over."""
    ratelimit.attempt(
        session,
        (ratelimit.REGISTER_IP, ip),
        (ratelimit.REGISTER_EMAIL, (email or "").strip().lower()),
    )


def throttle_reset_request(session: Session, email: str, ip: str) -> None:
    """Count a password-reset request; the address is counted whether or not it is known,
    so the limit itself gives nothing away."""
    ratelimit.attempt(
        session,
        (ratelimit.RESET_IP, ip),
        (ratelimit.RESET_EMAIL, (email or "").strip().lower()),
    )


def throttle_link(session: Session, secret: str, ip: str) -> None:
    """Count one use of an emailed link: per client address, and per person the link is for
    (when it is a link we know)."""
    checks = [(ratelimit.LINK_IP, ip)]
    for purpose in links.LinkPurpose:
        try:
            link = links.find_link(session, secret, purpose)
        except CreditsError:  # invalid, expired or used: counted per address only
            continue
        checks.append((ratelimit.LINK_ACCOUNT, f"person:{link.person_id}"))
        break
    ratelimit.attempt(session, *checks)


# --- registration ----------------------------------------------------------------------------


def register(
    session: Session,
    out: mailing.Outgoing,
    *,
    name: str,
    email: str,
    phone: str | None,
    password: NewPassword,
    ip: str,
) -> list[Message]:
    """A resident registers: they wait as *pending* and get a link to confirm their address.

    If the address is already registered nothing changes and its owner is told by email
    instead (the answer to the caller is the same, so nobody can learn who is registered).
    A resident whose earlier registration was declined may register again.
    """
    name = clean_name(name)
    address = normalise_email(email)
    number = normalise_phone(phone)
    password.check_for(address, name)
    existing = find_by_email(session, address)
    if existing is not None and existing.status != PersonStatus.DECLINED.value:
        audit.record(
            session,
            None,
            "registration.create",
            f"person:{existing.id}",
            ip=ip,
            outcome="already_registered",
        )
        if existing.status == PersonStatus.PENDING.value and existing.email_confirmed_at is None:
            # They lost the first confirmation email: send a fresh link.
            assert existing.id is not None
            link, secret = links.issue_link(
                session,
                person_id=existing.id,
                purpose=links.LinkPurpose.CONFIRM_EMAIL,
                created_by=SELF_REGISTRATION,
            )
            return [mailing.registration_confirm(out, existing, secret, link.expires_at)]
        if existing.status == PersonStatus.DISABLED.value:
            return []  # nothing useful to tell them by email; the council knows why
        return [mailing.registration_exists(out, existing)]
    if number is not None:
        taken = session.execute(select(Person).where(Person.phone == number)).scalar_one_or_none()
        if taken is not None and (existing is None or taken.id != existing.id):
            raise PersonExists(
                T("that mobile number is already registered"),
                errors={
                    "phone": [
                        T("This mobile number is already registered. Leave it out, or sign in.")
                    ]
                },
            )
    if existing is not None:  # declined before: register again on the same record
        person = existing
        person.name = name
        person.phone = number
        person.password_hash = password.hash
        person.email_confirmed_at = None
        person.status = PersonStatus.PENDING.value
        person.status_reason = None
        person.status_changed_at = utcnow()
        person.status_changed_by = SELF_REGISTRATION
        session.add(person)
        session.flush()
    else:
        person = create_person(
            session,
            name=name,
            email=address,
            phone=number,
            roles=(),
            granted_by=SELF_REGISTRATION,
            status=PersonStatus.PENDING,
        )
        person.password_hash = password.hash
        session.add(person)
    assert person.id is not None
    # They registered on a page in this language: their emails are written in it.
    person.language = out.language
    link, secret = links.issue_link(
        session,
        person_id=person.id,
        purpose=links.LinkPurpose.CONFIRM_EMAIL,
        created_by=SELF_REGISTRATION,
    )
    audit.record(
        session,
        audit.Actor.anonymous(),
        "registration.create",
        f"person:{person.id}",
        ip=ip,
        outcome="registered",
    )
    return [mailing.registration_confirm(out, person, secret, link.expires_at)]


def confirm_email(session: Session, secret: str, ip: str) -> Person:
    """Use a confirmation link: the person's address is confirmed (an officer may now approve
    their registration)."""
    link = links.consume_link(session, secret, links.LinkPurpose.CONFIRM_EMAIL)
    person = session.get(Person, link.person_id)
    assert person is not None
    if person.email_confirmed_at is None:
        person.email_confirmed_at = utcnow()
        session.add(person)
    audit.record(
        session,
        audit.Actor.person(link.person_id, via=f"link:{link.id}"),
        "registration.confirm_email",
        f"person:{link.person_id}",
        ip=ip,
    )
    return person


# --- invitations -----------------------------------------------------------------------------


def invitation_for(session: Session, secret: str) -> Person:
    """Who an invitation link is for (to greet them on the form); raises if it is not usable."""
    link = links.find_link(session, secret, links.LinkPurpose.INVITATION)
    person = session.get(Person, link.person_id)
    if person is None or person.status != PersonStatus.INVITED.value:
        raise links.LinkInvalid(
            T("This invitation is no longer valid. Ask the council for a new one.")
        )
    return person


def accept_invitation(session: Session, secret: str, password: NewPassword, *, ip: str) -> Person:
    """Set the invited person's password: they are active from now on. The link works once."""
    person = invitation_for(session, secret)
    password.check_for(person.email, person.name)
    link = links.consume_link(session, secret, links.LinkPurpose.INVITATION)
    now = utcnow()
    person.password_hash = password.hash
    person.status = PersonStatus.ACTIVE.value
    person.email_confirmed_at = person.email_confirmed_at or now
    person.status_changed_at = now
    person.status_changed_by = f"person:{person.id} via link:{link.id}"
    person.status_reason = None
    session.add(person)
    session.flush()
    assert person.id is not None
    audit.record(
        session,
        audit.Actor.person(person.id, via=f"link:{link.id}"),
        "invitation.accept",
        f"person:{person.id}",
        ip=ip,
    )
    return person


# --- forgotten passwords ---------------------------------------------------------------------

#: Statuses whose owner may reset their password by email. An invited person who never used
#: their invitation may set a password this way too (the link proves they read the mail).
RESETTABLE = (PersonStatus.ACTIVE.value, PersonStatus.INVITED.value, PersonStatus.PENDING.value)


def request_password_reset(
    session: Session, out: mailing.Outgoing, email: str, *, ip: str
) -> list[Message]:
    """Send a one-hour, single-use reset link if ``email`` belongs to someone who may use
    one; otherwise send nothing. The caller answers the same either way."""
    person = find_by_email(session, email)
    if person is None or person.status not in RESETTABLE:
        return []
    assert person.id is not None
    link, secret = links.issue_link(
        session,
        person_id=person.id,
        purpose=links.LinkPurpose.PASSWORD_RESET,
        created_by="password-reset-request",
    )
    audit.record(
        session, audit.Actor.anonymous(), "password.reset_requested", f"person:{person.id}", ip=ip
    )
    return [mailing.password_reset(out, person, secret, link.expires_at)]


def reset_for(session: Session, secret: str) -> Person:
    """Who a reset link is for; raises if it is not usable."""
    link = links.find_link(session, secret, links.LinkPurpose.PASSWORD_RESET)
    person = session.get(Person, link.person_id)
    if person is None or person.status not in RESETTABLE:
        raise links.LinkInvalid(T("This link can no longer be used. Contact the council."))
    return person


def reset_password(
    session: Session, out: mailing.Outgoing, secret: str, password: NewPassword, *, ip: str
) -> tuple[Person, list[Message]]:
    """Set a new password with a reset link: every web session and API token of theirs ends
    (whoever reset it may be the only one who should still get in: a token or a session made
    by someone who knew the old password must not outlive it), other reset links stop
    working, and they are told by email. Shops' terminal tokens belong to terminals, not
    people, and are not touched."""
    person = reset_for(session, secret)
    password.check_for(person.email, person.name)
    link = links.consume_link(session, secret, links.LinkPurpose.PASSWORD_RESET)
    assert person.id is not None
    now = utcnow()
    person.password_hash = password.hash
    person.email_confirmed_at = person.email_confirmed_at or now
    if person.status == PersonStatus.INVITED.value:
        person.status = PersonStatus.ACTIVE.value
        person.status_changed_at = now
        person.status_changed_by = f"person:{person.id} via link:{link.id}"
        links.revoke_links(session, person.id, purposes=(links.LinkPurpose.INVITATION,))
    person.updated_at = now
    person.updated_by = f"person:{person.id} via link:{link.id}"
    session.add(person)
    session.flush()
    by = f"person:{person.id} via link:{link.id} (password reset)"
    ended, revoked = revoke_access(session, person.id, by)
    links.revoke_links(session, person.id, purposes=(links.LinkPurpose.PASSWORD_RESET,))
    audit.record(
        session,
        audit.Actor.person(person.id, via=f"link:{link.id}"),
        "password.reset",
        f"person:{person.id}",
        ip=ip,
        sessions_ended=ended,
        tokens_revoked=revoked,
    )
    return person, [mailing.password_changed(out, person, now, tokens_revoked=revoked)]
