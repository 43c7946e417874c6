"""Request checks shared by the earning use cases (and settlement, adjustments): roles,
idempotency keys and fingerprints, field values collected into one refusal."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from credits.accounts import Principal, Role
from credits.errors import Forbidden, ValidationFailed
from credits.i18n import T

MAX_CLIENT_KEY_CHARS = 200
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]{1,200}$")
MAX_NOTE_CHARS = 500
MAX_REASON_CHARS = 500


def require_role(who: Principal, *roles: Role) -> int:
    """The caller's person id, if they act in one of ``roles`` (defence in depth: the API and
    the pages check the role before calling a use case)."""
    if who.role not in roles or who.person_id is None:
        raise Forbidden(
            T(
                "a %(role)s cannot do this (needs: %(roles)s)",
                role=who.role.value,
                roles=", ".join(r.value for r in roles),
            )
        )
    return who.person_id


def check_client_key(key: Any, field: str = "idempotency_key") -> str:
    """An idempotency key is 1-200 printable ASCII characters (contract v1)."""
    if not isinstance(key, str) or not _PRINTABLE_ASCII.match(key):
        message = T("must be 1-200 printable ASCII characters")
        raise ValidationFailed(f"{field} {message}", errors={field: [message]})
    return key


def fingerprint(body: dict[str, Any]) -> str:
    """SHA-256 of a canonical JSON rendering of what was asked (for idempotent replays)."""
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


class FieldProblems(ValidationFailed):
    """Some fields of a request are missing or malformed; ``errors`` lists them all."""


class Problems:
    """Collects every problem with a request's fields, then raises them all at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        """Record a problem (a :func:`credits.i18n.T` message: pages show it translated)."""
        self.errors.setdefault(field, []).append(message)

    def take(self, exc: ValidationFailed) -> None:
        """Merge the field errors of a ValidationFailed (or its detail under ``_form``)."""
        errors = exc.extra.get("errors") or {"_form": [exc.detail]}
        for field, messages in errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                self.add(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            detail = "; ".join(
                f"{field}: {message}"
                for field, messages in self.errors.items()
                for message in messages
            )
            raise FieldProblems(detail, errors=self.errors)


def text_field(
    problems: Problems,
    field: str,
    value: Any,
    *,
    max_chars: int,
    required: bool = True,
    min_chars: int = 1,
) -> str:
    """A trimmed text value, or a problem recorded against ``field``."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.add(field, T("must be text"))
        return ""
    value = value.strip()
    if required and len(value) < min_chars:
        problems.add(
            field,
            T("is required")
            if min_chars == 1
            else T("needs %(count)s+ characters", count=min_chars),
        )
    elif len(value) > max_chars:
        problems.add(field, T("is at most %(count)s characters", count=max_chars))
    return value


def int_field(problems: Problems, field: str, value: Any, *, lo: int, hi: int) -> int:
    """A whole number in ``[lo, hi]`` (an int, or digits from a form), or a problem."""
    number: int | None = None
    if isinstance(value, bool) or value is None:
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,12}\s*", value):
        number = int(value)
    if number is None:
        problems.add(field, T("must be a whole number"))
        return 0
    if not lo <= number <= hi:
        problems.add(field, T("must be between %(lo)s and %(hi)s", lo=str(lo), hi=str(hi)))
    return number
