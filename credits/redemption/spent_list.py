"""The terminals' spent list: vouchers closed (redeemed or cancelled) and not yet expired, so a
terminal can refuse them while offline — as offline verifiers of signed certificates use a
revocation list (docs/api-terminal.md, ``GET /terminal/spent-vouchers``).

A voucher past its expiry drops out: a terminal refuses an expired voucher offline anyway.

**Incremental, with an overlap.** A cursor stands for "vouchers closed at or after time t".
Answers say ``as_of`` = now − :data:`OVERLAP`: a transaction that closes a voucher stamps
``closed_at`` before it commits, so a voucher closed just before a fetch may commit just
after it; every voucher closed before ``as_of`` is assumed committed by the fetch (a
redemption commits within milliseconds; :data:`OVERLAP` is two minutes). The next cursor is
at most ``as_of``, so the next answer repeats the overlap (the terminal de-duplicates) and
misses nothing. Long answers come in pages of :data:`PAGE` (``more``: ask again at once with
the new cursor); a walk over pages resumes from the time its first page was asked.

**F, recorded by the ledger.** Every answer to a first page (a full list, or ``since`` a time;
200 or 304) sets ``terminal.spent_list_at`` to its ``as_of``: every voucher closed before it
is on the terminal's list. The bounding rule (credits.redemption.claims, rule 3) refuses an
offline claim of a voucher closed before F. Continuation pages do not move F: their cursor
comes from the terminal and is not trusted for anything but what to list next.

**304.** The ETag covers the whole answer (its vouchers and the next cursor). A cursor
advances only every :data:`CURSOR_STEP` (until then the same ``since`` comes back as the next
cursor), so a terminal polling every minute with ``If-None-Match`` gets 304 while nothing
closes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, cast, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from credits.db import utcnow
from credits.errors import ValidationFailed
from credits.ledger.chain import epoch_us
from credits.shops.models import Terminal
from credits.vouchers.models import Voucher, VoucherState

#: How long after stamping ``closed_at`` a closing transaction is assumed to have committed.
OVERLAP = timedelta(minutes=2)
#: How often a time cursor moves on (so that a terminal polling with ETags gets 304s).
CURSOR_STEP = timedelta(minutes=10)
#: Vouchers per answer (about 50 bytes each as JSON).
PAGE = 10_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(\d{1,17})(?:\.([0-9a-f]{32})\.(\d{1,17}))?$")
_SPENT = (VoucherState.REDEEMED.value, VoucherState.CANCELLED.value)

T_VOUCHER = Voucher.__table__  # type: ignore[attr-defined]
V = T_VOUCHER.c
T_TERMINAL = Terminal.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a list continues: vouchers after (``at``, ``after_id``) in (closed_at, id) order
    (``after_id`` empty: closed at or after ``at``); ``walk_started`` is the as_of of the
    walk's first page (continuation pages only)."""

    at: datetime
    after_id: str = ""
    walk_started: datetime | None = None

    def text(self) -> str:
        """The cursor as the API carries it."""
        if not self.after_id:
            return str(epoch_us(self.at))
        assert self.walk_started is not None
        return f"{epoch_us(self.at)}.{self.after_id}.{epoch_us(self.walk_started)}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor of an earlier answer; anything else is a ``validation_error``."""
        match = _CURSOR.match(text)
        if match is None:
            raise ValidationFailed(
                "since: pass the cursor of an earlier answer, unchanged",
                errors={"since": ["Not a cursor."]},
            )
        at, after_id, started = match.groups()
        return cls(
            at=_from_us(int(at)),
            after_id=after_id or "",
            walk_started=_from_us(int(started)) if started else None,
        )


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class SpentList:
    """One answer: vouchers as (id, expiry in epoch seconds), split by how they closed."""

    as_of: datetime
    cursor: str
    more: bool
    full: bool
    redeemed: list[tuple[str, int]]
    cancelled: list[tuple[str, int]]
    etag: str

    def body(self) -> dict[str, Any]:
        """The JSON body (docs/api-terminal.md)."""
        return {
            "as_of": self.as_of.isoformat().replace("+00:00", "Z"),
            "cursor": self.cursor,
            "more": self.more,
            "full": self.full,
            "redeemed": [list(v) for v in self.redeemed],
            "cancelled": [list(v) for v in self.cancelled],
        }


def spent_list(
    session: Session, terminal_id: int, since: str | None, *, now: datetime | None = None
) -> SpentList:
    """The spent list for a terminal (in the caller's transaction): the full list without
    ``since``, else what closed since that cursor. A first page records F (``as_of``) on the
    terminal's row."""
    now = now or utcnow()
    as_of = now - OVERLAP
    asked = Cursor.parse(since) if since else None
    if asked is None or not asked.after_id:
        _record_fetch(session, terminal_id, as_of)
    if asked is None:
        start = Cursor(at=_first_closed(session, now) or as_of)
        walk_started = as_of
    elif asked.after_id:
        start = asked
        assert asked.walk_started is not None
        walk_started = asked.walk_started
    else:
        start, walk_started = asked, as_of
    # Expiry as epoch seconds computed by the database (whole seconds by construction): turning
    # 10,000 timestamps into aware datetimes and back took most of a page's time.
    expiry = cast(func.extract("epoch", V.expires_at), BigInteger)
    rows = session.execute(
        select(V.id, expiry, V.state)
        .where(
            V.state.in_(_SPENT),
            V.expires_at > now,
            # A row comparison, so that PostgreSQL walks ix_voucher_spent_closed_at from the
            # cursor and stops after a page (an OR of the two cases made it sort every row
            # after the cursor: 460 ms a page at borough size, 22 ms this way). An id is
            # never empty, so ("", t) means "closed at or after t". The values are typed as
            # the columns are (a bare tuple would bind a datetime by its Python type).
            tuple_(V.closed_at, V.id)
            > tuple_(literal(start.at, V.closed_at.type), literal(start.after_id, V.id.type)),
        )
        .order_by(V.closed_at, V.id)
        .limit(PAGE + 1)
    ).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    if more:
        last_id = rows[-1][0]
        last_closed = session.execute(select(V.closed_at).where(V.id == last_id)).scalar_one()
        cursor = Cursor(at=last_closed, after_id=last_id, walk_started=walk_started)
    elif asked is not None and not asked.after_id and walk_started - asked.at < CURSOR_STEP:
        cursor = asked  # not worth moving yet: the same question, so a 304 if nothing closed
    else:
        cursor = Cursor(at=walk_started)
    redeemed = [(i, int(e)) for i, e, state in rows if state == _SPENT[0]]
    cancelled = [(i, int(e)) for i, e, state in rows if state == _SPENT[1]]
    digest = hashlib.sha256(
        json.dumps([cursor.text(), more, redeemed, cancelled]).encode()
    ).hexdigest()[:32]
    return SpentList(
        as_of=walk_started,
        cursor=cursor.text(),
        more=more,
        full=asked is None,
        redeemed=redeemed,
        cancelled=cancelled,
        etag=digest,
    )


def _first_closed(session: Session, now: datetime) -> datetime | None:
    """When the earliest still-unexpired closed voucher was closed (where a full list starts).

    The FILTER keeps PostgreSQL from turning min() into a walk of the closed_at index, which
    would step over every expired voucher closed before the first one that counts."""
    first = session.execute(
        select(func.min(V.closed_at).filter(V.closed_at.is_not(None))).where(
            V.state.in_(_SPENT), V.expires_at > now
        )
    ).scalar_one_or_none()
    assert first is None or isinstance(first, datetime), first  # typed: never a bare string
    return first


def _record_fetch(session: Session, terminal_id: int, as_of: datetime) -> None:
    """F: the terminal now has every voucher closed before ``as_of`` (never moves back)."""
    session.execute(
        update(Terminal)
        .where(
            T_TERMINAL.c.id == terminal_id,
            or_(T_TERMINAL.c.spent_list_at.is_(None), T_TERMINAL.c.spent_list_at < as_of),
        )
        .values(spent_list_at=as_of)
    )
