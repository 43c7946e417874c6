"""Password hashing with Argon2id (memory-hard), via argon2-cffi.

The cost is argon2-cffi's default RFC 9106 "low memory" profile (64 MiB, 3 passes). Tests
lower it through settings (``CREDITS_PASSWORD_HASH_PROFILE=fast``); production never should.
A hash made with other parameters (an older profile) is replaced at the next successful
sign-in (:func:`needs_rehash`, credits/accounts/signin.py), as Warehouse does.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_PROFILES = {
    "default": PasswordHasher(),
    # Still Argon2id, but cheap: only for tests and throwaway demo data.
    "fast": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200


def hash_password(password: str, profile: str = "default") -> str:
    """The Argon2id hash (with its own random salt) of ``password``."""
    return _PROFILES[profile].hash(password)


def needs_rehash(password_hash: str, profile: str = "default") -> bool:
    """Whether a stored hash was made with other parameters than ``profile``'s (older or
    cheaper ones): sign-in then stores a new hash of the password it just checked."""
    try:
        return _PROFILES[profile].check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; False for a missing or malformed hash."""
    if not password_hash:
        return False
    try:
        return _PROFILES["default"].verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
