"""Tamper evidence: the canonical content of an entry and the hash chain over entries.

Each entry's ``content_hash`` is SHA-256 over a canonical text of everything that defines it
(kind, times, memo, actor, idempotency key, what it reverses, and its postings). Its ``hash``
is SHA-256 over the previous entry's hash on the same lane followed by its content hash
(both as raw 32 bytes). Edit any stored field or posting, delete or insert an entry, and
the recomputed chain stops matching from that entry on — `credits verify` names it.

The canonical text is plain ASCII built from integers and hex digests so that it can be
recomputed outside Python (even in SQL) without JSON-escaping subtleties::

    cc-ledger/1|<kind>|<occurred_at µs since epoch>|<recorded_at µs>|<reverses id or ->|
    <sha256 hex of memo>|<sha256 hex of actor>|<sha256 hex of idempotency key>|
    <account id>:<amount>,<account id>:<amount>,...   (postings sorted by account id)

(one line, no spaces; the line breaks above are only for reading).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64
CANONICAL_VERSION = "cc-ledger/1"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _sha_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_text(
    *,
    kind: str,
    occurred_at: datetime,
    recorded_at: datetime,
    reverses_entry_id: int | None,
    memo: str,
    actor: str,
    idempotency_key: str,
    postings: Iterable[tuple[int, int]],
) -> str:
    """The canonical one-line text of an entry (see the module docstring)."""
    lines = ",".join(f"{a}:{amt}" for a, amt in sorted(postings))
    return "|".join(
        [
            CANONICAL_VERSION,
            kind,
            str(epoch_us(occurred_at)),
            str(epoch_us(recorded_at)),
            "-" if reverses_entry_id is None else str(reverses_entry_id),
            _sha_hex(memo),
            _sha_hex(actor),
            _sha_hex(idempotency_key),
            lines,
        ]
    )


def content_hash(canonical: str) -> str:
    """SHA-256 hex of a :func:`canonical_text`."""
    return _sha_hex(canonical)


def link_hash(prev_hash: str, content_hash_hex: str) -> str:
    """The chain hash of an entry: SHA-256(prev hash bytes || content hash bytes), hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + bytes.fromhex(content_hash_hex)).hexdigest()
