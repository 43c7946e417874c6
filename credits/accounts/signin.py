"""Signing in with a password, rate limited and audited.

Limits (credits.ratelimit): 5 failed sign-ins per account per 15 minutes, and 20 per client
address per 15 minutes. Over either, the attempt is refused *without checking the password*
(so guessing stops) until the oldest failure is 15 minutes old; the refusal says how long to
wait. A successful sign-in clears the account's failures. An unknown login is counted
exactly like a known one, so the limits reveal nothing about who is registered.

A browser that signed in as this person before carries a device token
(credits/accounts/devices.py): its attempts count against the device's own limit (5 per 15
minutes) instead of the account's, so someone guessing the password elsewhere cannot lock
the owner out of their own browser — and the guesser, who has no token, stays locked out.

How it stays strict under concurrency without holding a lock while Argon2 runs (~50 ms of
CPU and 64 MiB; on SQLite the write lock would stop every other writer meanwhile):

1. one short unit of work checks both limits under their locks and *reserves* a failure in
   each (as if the attempt will fail) — a hundred guesses at once still get only five;
2. the password is checked outside any transaction (and, if its stored hash was made with
   older parameters, hashed again with the current ones);
3. a second unit of work records the outcome: on success the reservations are taken back,
   the upgraded hash stored, a session opened and a fresh device token issued; on failure
   they stand, and the failure is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from credits import audit, ratelimit
from credits.accounts import devices
from credits.accounts.models import Person, PersonStatus
from credits.accounts.passwords import hash_password, needs_rehash, verify_password
from credits.accounts.sessions import (
    SignInFailed,
    WebSession,
    _dummy_hash,
    find_person_for_sign_in,
    start_session,
)
from credits.db import Database, utcnow
from credits.errors import CreditsError
from credits.i18n import T

WRONG_DETAILS = T("The email or phone number, or the password, is not right.")
NOT_ACTIVE = {
    PersonStatus.PENDING.value: T(
        "Your registration is waiting for the council to approve it. "
        "We will email you when it is approved."
    ),
    PersonStatus.DECLINED.value: T(
        "Your registration was not approved: see the email we sent you. You can register again."
    ),
    PersonStatus.DISABLED.value: T("This account is not active. Ask the council to re-enable it."),
}


@dataclass(frozen=True)
class SignInOutcome:
    """Either a session (``row``, the cookie ``token`` and a fresh ``device_token``) or the
    ``error`` to show."""

    row: WebSession | None = None
    token: str | None = None
    error: CreditsError | None = None
    device_token: str | None = None


@dataclass(frozen=True)
class _Reserved:
    person_id: int | None
    password_hash: str | None
    #: The limit this attempt counts against: the account's, or a trusted device's own.
    limit: ratelimit.Limit
    key: str
    device: devices.Device | None
    ip_event: int
    account_event: int
    left: int


def _reserve(
    session: Session, login: str, ip: str, device_tokens: Sequence[str], secret_key: str
) -> _Reserved:
    person = find_person_for_sign_in(session, login)
    device = (
        devices.trusted(secret_key, device_tokens, person, utcnow())
        if person is not None and secret_key
        else None
    )
    if device is not None:
        limit, key = ratelimit.SIGN_IN_DEVICE, device.bucket_key
    else:
        limit = ratelimit.SIGN_IN_ACCOUNT
        key = f"person:{person.id}" if person else "login:" + (login or "").strip().lower()
    ratelimit.check(session, ratelimit.SIGN_IN_IP, ip)
    ratelimit.check(session, limit, key)
    by_ip = ratelimit.hit(session, ratelimit.SIGN_IN_IP, ip)
    by_account = ratelimit.hit(session, limit, key)
    return _Reserved(
        person_id=person.id if person else None,
        password_hash=person.password_hash if person else None,
        limit=limit,
        key=key,
        device=device,
        ip_event=by_ip.event_id,
        account_event=by_account.event_id,
        left=by_account.left,
    )


def _failed(session: Session, r: _Reserved, ip: str) -> SignInOutcome:
    target = f"person:{r.person_id}" if r.person_id is not None else None
    reason = "unknown_login" if r.person_id is None else "wrong_password"
    trusted = r.device is not None
    audit.record(session, None, "auth.sign_in_failed", target, ip=ip, reason=reason, device=trusted)
    if r.left <= 0 and r.person_id is not None:
        minutes = int(r.limit.window.total_seconds() // 60)
        audit.record(session, None, "auth.locked", target, ip=ip, minutes=minutes, device=trusted)
    return SignInOutcome(error=SignInFailed(WRONG_DETAILS))


def _succeeded(
    session: Session,
    r: _Reserved,
    ip: str,
    user_agent: str | None,
    new_hash: str | None,
    secret_key: str,
) -> SignInOutcome:
    # The password was right: this was not a failure after all.
    ratelimit.unhit(session, r.ip_event)
    ratelimit.unhit(session, r.account_event)
    assert r.person_id is not None
    person = session.get(Person, r.person_id)
    if person is None:
        return SignInOutcome(error=SignInFailed(WRONG_DETAILS))
    if person.status != PersonStatus.ACTIVE.value:
        audit.record(
            session, None, "auth.sign_in_failed", f"person:{person.id}", ip=ip, reason=person.status
        )
        return SignInOutcome(error=SignInFailed(NOT_ACTIVE.get(person.status, WRONG_DETAILS)))
    # Store the upgraded hash unless the password changed meanwhile (a reset between the two
    # units of work): the hash checked must still be the one stored.
    rehashed = new_hash is not None and person.password_hash == r.password_hash
    if rehashed:
        person.password_hash = new_hash
        session.add(person)
        session.flush()
    try:
        row, token = start_session(session, person, user_agent=user_agent)
    except CreditsError as exc:  # no role (yet): nothing to sign in to
        return SignInOutcome(error=exc)
    # A trusted device's success clears the device's failures only: the account's stay, so
    # whoever is guessing elsewhere is not given five more tries.
    ratelimit.clear(session, r.limit, r.key)
    who = audit.Actor(
        f"person:{person.id} as {row.role} via session:{row.id}", person.id, f"session:{row.id}"
    )
    audit.record(
        session,
        who,
        "auth.sign_in",
        f"person:{person.id}",
        ip=ip,
        device="trusted" if r.device is not None else "new",
        rehashed=rehashed,
    )
    fresh = devices.issue(secret_key, person, utcnow()) if secret_key else None
    return SignInOutcome(row=row, token=token, device_token=fresh)


def sign_in(
    db: Database,
    login: str,
    password: str,
    *,
    ip: str,
    user_agent: str | None = None,
    device_tokens: Sequence[str] = (),
    secret_key: str = "",
    profile: str = "default",
) -> SignInOutcome:
    """Check the limits and the password; open a session, or say why not (see the module
    docstring for the three steps). ``device_tokens`` come from the browser's device cookie
    and ``secret_key`` signs them (without a key, no device is trusted or issued);
    ``profile`` is the Argon2 profile new hashes are made with."""
    try:
        reserved = db.run(lambda s: _reserve(s, login, ip, device_tokens, secret_key))
    except ratelimit.RateLimited as exc:
        return SignInOutcome(error=exc)
    # Unknown login: check against a real hash anyway, so both cost the same time.
    ok = verify_password(reserved.password_hash or _dummy_hash(), password or "")
    ok = ok and reserved.password_hash is not None
    if not ok:
        return db.run(lambda s: _failed(s, reserved, ip))
    new_hash = None
    if reserved.password_hash is not None and needs_rehash(reserved.password_hash, profile):
        new_hash = hash_password(password, profile)  # outside any transaction, like the check
    return db.run(lambda s: _succeeded(s, reserved, ip, user_agent, new_hash, secret_key))
