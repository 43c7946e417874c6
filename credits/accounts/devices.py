"""Device cookies: a browser that signed in before is not locked out by someone else's guesses.

Five wrong passwords lock an account's web sign-in for 15 minutes (credits.ratelimit), so
anyone who knows an email address could keep its owner out. OWASP's "device cookies"
answer it: after a successful sign-in the browser gets a signed token naming the person; a
later attempt that carries a valid token for the person it signs in as is counted against
*that device* (its own limit: 5 failures in 15 minutes), not against the account. So the
attacker — who has no token — stays locked out, and the owner's browser still gets in with
the right password. A stolen token gives no way around the password, and a token that
fails too often is locked itself.

A token is ``<person id>.<nonce>.<issued (unix s)>.<binding>.<mac>``:

- the MAC is HMAC-SHA256 under the app's secret key (nobody can make or alter one);
- it expires :data:`DEVICE_MAX_AGE` after it was issued (every successful sign-in issues a
  fresh one);
- ``binding`` is a digest of the person's current password hash, so a new password (a reset,
  an upgraded hash) ends every device's standing at once;
- ``nonce`` names the device in its own rate-limit bucket (``device:<nonce>``).

One cookie holds the tokens of up to :data:`MAX_TOKENS` people who sign in on the same
browser (a family computer), newest first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from credits.accounts.models import Person

DEVICE_MAX_AGE = timedelta(days=60)
MAX_TOKENS = 5
#: Separates tokens in the cookie (a cookie-safe character no token contains).
SEPARATOR = "~"
#: A cookie longer than this is not ours (5 tokens are ~450 characters).
MAX_COOKIE_CHARS = 1000


@dataclass(frozen=True)
class Device:
    """A valid device token: whose it is, and the name of its rate-limit bucket."""

    person_id: int
    nonce: str
    issued_at: datetime

    @property
    def bucket_key(self) -> str:
        return f"device:{self.nonce}"


def _binding(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode("utf-8")).hexdigest()[:16]


def _mac(secret_key: str, payload: str) -> str:
    key = secret_key.encode("utf-8")
    return hmac.new(key, ("cc-device|" + payload).encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def issue(secret_key: str, person: Person, now: datetime) -> str:
    """A fresh device token for ``person`` (after they signed in with the right password)."""
    assert person.id is not None
    nonce = secrets.token_urlsafe(12)
    payload = f"{person.id}.{nonce}.{int(now.timestamp())}.{_binding(person.password_hash)}"
    return f"{payload}.{_mac(secret_key, payload)}"


def _parse(secret_key: str, token: str) -> tuple[Device, str] | None:
    parts = token.split(".")
    if len(parts) != 5 or not all(parts):
        return None
    person, nonce, issued, binding, mac = parts
    if not hmac.compare_digest(mac, _mac(secret_key, ".".join(parts[:4]))):
        return None
    if not person.isdigit() or not issued.isdigit() or len(person) > 19 or len(issued) > 12:
        return None
    device = Device(int(person), nonce, datetime.fromtimestamp(int(issued), UTC))
    return device, binding


def split_cookie(cookie: str | None) -> list[str]:
    """The tokens in a device cookie (at most :data:`MAX_TOKENS`)."""
    if not cookie or len(cookie) > MAX_COOKIE_CHARS:
        return []
    return [t for t in cookie.split(SEPARATOR) if t][:MAX_TOKENS]


def trusted(secret_key: str, tokens: Iterable[str], person: Person, now: datetime) -> Device | None:
    """The device ``person`` signed in on before, if one of ``tokens`` is a valid, unexpired
    token of theirs, issued for their current password; otherwise None."""
    for token in tokens:
        parsed = _parse(secret_key, token)
        if parsed is None:
            continue
        device, binding = parsed
        if device.person_id != person.id:
            continue
        if not device.issued_at <= now < device.issued_at + DEVICE_MAX_AGE:
            continue
        if not hmac.compare_digest(binding, _binding(person.password_hash)):
            continue
        return device
    return None


def remember(tokens: Iterable[str], fresh: str, secret_key: str) -> str:
    """The cookie value after a sign-in: ``fresh`` first, then the other people's tokens
    that are still genuine, at most :data:`MAX_TOKENS`."""
    parsed = _parse(secret_key, fresh)
    assert parsed is not None
    mine = parsed[0].person_id
    keep = [fresh]
    for token in tokens:
        other = _parse(secret_key, token)
        if other is not None and other[0].person_id != mine and token not in keep:
            keep.append(token)
    return SEPARATOR.join(keep[:MAX_TOKENS])
