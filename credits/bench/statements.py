"""`python -m credits.bench statements`: a borough-sized history, a month's statement, verify.

Generates the history of a scheme on a scratch PostgreSQL database (``credits_bench_
statements`` by default): members earning credits for activities (coordinators' records and
session sheets), vouchers issued, redeemed at shops in full or with change (a few offline,
a few offline double spends paid from adjustments, a few redemptions reversed by an
officer), cancelled, and expired by the nightly sweep — each entry written as its use case
writes it (kind, legs, memo, actor, idempotency key, the rows beside it: ``award`` and
``award_line`` with their budget and cap counters, ``voucher``, ``redemption``,
``redemption_exception``), hash-chained on the ledger's lanes, with stored balances equal to
the sums of postings. Then it times one month's statement and runs the real
``credits verify --json`` against it, reporting each check's time.

The quick default is small (a few hundred thousand postings); the issue's size is::

    python -m credits.bench statements --borough      # 50,000 members, 300 shops,
                                                      # 12 months at 1,000,000 postings/month

How it stays fast enough on a 2-core machine: the people, shops, activities and groups are
made by the real use cases (or one INSERT ... SELECT for the members), and the history is
simulated in Python, in time order, and streamed with ``COPY`` into the tables the
migrations created (nothing is dropped or altered). The bulk load runs with
``session_replication_role = replica`` on its own connections, which switches off the
per-row triggers (the deferred "entry balances" triggers, the foreign-key triggers, the
append-only guard) for those sessions only: they would run ~16 million single-row queries
at commit. What they guard is what ``credits verify`` then checks over the whole ledger,
and the bench fails if it does not pass. Request fingerprints (``request_hash``) are not
the use cases' (they only matter for an idempotent retry) and voucher codes are not signed
(nothing in the database holds a code).

``--reuse`` skips the generation when the database already holds a history made with the
same parameters (they are kept in the database's comment).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from credits import earning, ledger
from credits.accounts import Principal, Role, create_person
from credits.bench.common import machine, scratch_database
from credits.db import Database, make_engine, upgrade_to_head
from credits.earning import dates
from credits.earning.awards import memo as award_memo
from credits.earning.models import Activity
from credits.ledger import LONDON, Month
from credits.ledger.chain import CANONICAL_VERSION, GENESIS_HASH
from credits.redemption.service import redeem_memo
from credits.shops import service as shops
from credits.vouchers.code import reference

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench_statements"
LANES = ledger.CHAIN_LANES
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = 1_000_000
_DAY_US = 86_400 * _US

#: The three activities of the demo (credits/earning/demo.py), with a borough's budget.
ACTIVITIES: tuple[dict[str, Any], ...] = (
    {
        "slug": "snow-clearing",
        "name": "Snow clearing",
        "unit": "hour",
        "credits_per_unit": 10,
        "week_cap_credits": 120,
        "month_cap_credits": 300,
    },
    {
        "slug": "speed-watch",
        "name": "Community speed watch",
        "unit": "session",
        "credits_per_unit": 20,
        "week_cap_credits": 60,
        "month_cap_credits": 160,
    },
    {
        "slug": "good-gym-run",
        "name": "Good Gym run",
        "unit": "run",
        "credits_per_unit": 15,
        "week_cap_credits": 45,
        "month_cap_credits": 120,
    },
)
#: Quantities (in hundredths of the unit) a line may have, per unit.
QUANTITIES = {"hour": (100, 150, 200, 250, 300, 400), "session": (100, 200), "run": (100,)}
FACE_VALUES = (10, 15, 20, 25, 30, 40, 50)
VOUCHER_DAYS = 90
KID = "b0b0b0b0b0b0b0b0"


@dataclass(frozen=True)
class Params:
    """What a generated history is made of (kept in the database's comment for ``--reuse``)."""

    members: int
    shops: int
    months: int
    postings_per_month: int
    last_month: str
    seed: int = 6

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


# --- text for COPY --------------------------------------------------------------------------


def _ts(us: int) -> str:
    """A timestamptz literal for COPY from microseconds since the epoch (UTC)."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat(sep=" ")


def _us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _clean(value: str) -> str:
    # Our memos never hold COPY's special characters; make sure of it rather than escape.
    assert "\\" not in value and "\t" not in value and "\n" not in value, value
    return value


class _Table:
    """One table's COPY stream on its own connection, buffered."""

    def __init__(self, stack: ExitStack, conninfo: str, table: str, columns: str) -> None:
        conn = stack.enter_context(psycopg.connect(conninfo))
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        self.conn = conn
        self.copy = stack.enter_context(conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN"))
        self.buffer: list[str] = []
        self.rows = 0

    def row(self, *fields: object) -> None:
        self.buffer.append("\t".join("\\N" if f is None else str(f) for f in fields))
        if len(self.buffer) >= 5000:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.rows += len(self.buffer)
            self.copy.write("\n".join(self.buffer) + "\n")
            self.buffer = []


# --- the simulated scheme ---------------------------------------------------------------------


@dataclass
class _Voucher:
    id: str
    ref: str
    person: int
    account: int
    face: int
    issued_us: int
    expires_us: int
    issued_by: str
    issue_entry: int


@dataclass
class _Setup:
    """What the use cases created before the history is simulated."""

    issuance: int
    outstanding: int
    adjustments: int
    officer_actor: str
    activities: list[Activity]
    member_ids: list[int]
    member_accounts: list[int]
    group_coordinator: list[tuple[int, str]]
    shop_ids: list[int]
    shop_accounts: list[int]
    terminal_ids: list[int]
    terminal_actors: list[str]


@dataclass
class _Counts:
    entries: int = 0
    postings: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lines: int = 0
    vouchers: int = 0
    redemptions: int = 0


class _History:
    """Simulates the scheme day by day and streams every row it writes."""

    def __init__(self, params: Params, setup: _Setup, tables: dict[str, _Table]) -> None:
        self.p = params
        self.s = setup
        self.t = tables
        self.rng = random.Random(params.seed)
        self.counts = _Counts()
        self.next_entry = 1
        self.next_posting = 1
        self.next_award = 1
        self.next_line = 1
        self.lane_seq = [0] * LANES
        self.lane_head = [bytes.fromhex(GENESIS_HASH)] * LANES
        self.balance: dict[int, int] = defaultdict(int)
        self.open_count: dict[int, int] = defaultdict(int)
        self.threshold = [self.rng.randint(20, 90) for _ in setup.member_ids]
        self.budget: dict[tuple[int, str], int] = defaultdict(int)
        self.usage: dict[tuple[int, int, str], int] = defaultdict(int)
        self.events: list[tuple[int, int, str, Any]] = []
        self.seq = 0
        self.actor_hash: dict[str, str] = {}
        # Popular shops take more vouchers (a long tail of corner shops).
        self.shop_weights = [1.0 / (i + 1) ** 0.8 for i in range(len(setup.shop_ids))]
        self.shop_cum = _cumulative(self.shop_weights)

    # --- the ledger ---

    def entry(
        self,
        kind: str,
        occurred_us: int,
        recorded_us: int,
        memo: str,
        actor: str,
        key: str,
        legs: list[tuple[int, int]],
        reverses: int | None = None,
    ) -> int:
        """Write one journal entry and its postings exactly as ledger.post_entry would
        (canonical text, content hash, chain link on a random lane) and apply the legs."""
        legs.sort()
        assert sum(m for _, m in legs) == 0 and len(legs) >= 2, legs
        eid = self.next_entry
        self.next_entry += 1
        lane = self.rng.randrange(LANES)
        seq = self.lane_seq[lane] + 1
        prev = self.lane_head[lane]
        ahash = self.actor_hash.get(actor)
        if ahash is None:
            ahash = self.actor_hash[actor] = _sha(actor)
        canonical = "|".join(
            (
                CANONICAL_VERSION,
                kind,
                str(occurred_us),
                str(recorded_us),
                "-" if reverses is None else str(reverses),
                _sha(memo),
                ahash,
                _sha(key),
                ",".join(f"{a}:{m}" for a, m in legs),
            )
        )
        content = hashlib.sha256(canonical.encode()).digest()
        link = hashlib.sha256(prev + content).digest()
        self.lane_seq[lane] = seq
        self.lane_head[lane] = link
        self.t["entry"].row(
            eid,
            kind,
            _clean(memo),
            actor,
            _ts(occurred_us),
            _ts(recorded_us),
            key,
            hashlib.sha256(canonical.encode() + b"|request").hexdigest(),
            reverses,
            lane,
            seq,
            content.hex(),
            prev.hex(),
            link.hex(),
        )
        postings = self.t["posting"]
        for account, amount in legs:
            postings.row(self.next_posting, eid, account, amount)
            self.next_posting += 1
            self.balance[account] += amount
        self.counts.entries += 1
        self.counts.postings += len(legs)
        self.counts.by_kind[kind] += 1
        return eid

    def at(self, when_us: int, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when_us, self.seq, kind, payload))

    # --- earning ---

    def award(
        self,
        kind: str,
        coordinator: int,
        actor: str,
        day: date,
        now_us: int,
        activity: Activity,
        members: list[int],
    ) -> None:
        """A coordinator's record (one member) or session sheet (several), posted at once:
        budget and cap counters, the award and its lines, the earn entry."""
        assert activity.id is not None
        unit, rate = activity.unit, activity.credits_per_unit
        week, month = dates.week_key(day), dates.month_key(day)
        lines = []
        for m in members:
            centi = self.rng.choice(QUANTITIES[unit])
            credits = centi * rate // 100
            pid = self.s.member_ids[m]
            used_w = self.usage[(pid, activity.id, week)]
            used_m = self.usage[(pid, activity.id, month)]
            if used_w + credits > activity.week_cap_credits:
                continue  # the use case refuses a line over a cap; the coordinator drops it
            if used_m + credits > activity.month_cap_credits:
                continue
            lines.append((m, pid, centi, credits))
        if not lines:
            return
        for _, pid, _, credits in lines:
            self.usage[(pid, activity.id, week)] += credits
            self.usage[(pid, activity.id, month)] += credits
        total = sum(c for *_, c in lines)
        self.budget[(activity.id, month)] += total
        award_id = self.next_award
        self.next_award += 1
        namespaced = f"award:{coordinator}:{kind}-{award_id}"
        legs = [(self.s.issuance, -total)]
        legs += [(self.s.member_accounts[m], c) for m, _, _, c in lines]
        entry_id = self.entry(
            "earn",
            _us(dates.entry_time(day)),
            now_us,
            award_memo(kind, activity, day, [("", ce, cr) for _, _, ce, cr in lines]),
            actor,
            f"earn:{namespaced}",
            legs,
        )
        created = _ts(now_us)
        self.t["award"].row(
            award_id, kind, "posted", activity.id, day.isoformat(), unit, rate, total,
            len(lines), "", namespaced, _sha(namespaced + "|request"), "f", coordinator, actor,
            created, coordinator, actor, created, entry_id, created,
        )  # fmt: skip
        for _, pid, centi, credits in lines:
            self.t["line"].row(self.next_line, award_id, pid, centi, credits)
            self.next_line += 1
        self.counts.lines += len(lines)
        for m, *_ in lines:
            account = self.s.member_accounts[m]
            if self.balance[account] >= self.threshold[m] and self.rng.random() < 0.75:
                self.at(now_us + self.rng.randint(600, 3 * 86_400) * _US, "issue", m)

    # --- vouchers ---

    def issue(self, now_us: int, m: int) -> None:
        """voucher_issue: member −f, vouchers outstanding +f, and the open voucher row."""
        account = self.s.member_accounts[m]
        held = self.balance[account]
        pid = self.s.member_ids[m]
        if held < FACE_VALUES[0] or self.open_count[pid] >= 50:
            return
        face = self.rng.choice([f for f in FACE_VALUES if f <= held] + [held])
        actor = f"person:{pid} as member via session"
        key = f"voucher-issue:{pid}:{self.rng.getrandbits(64):016x}"
        entry_id = self.entry(
            "voucher_issue", now_us, now_us, f"Voucher of {face} credits", actor, key,
            [(account, -face), (self.s.outstanding, face)],
        )  # fmt: skip
        raw = self.rng.getrandbits(128).to_bytes(16, "big")
        expires = (now_us // _US + VOUCHER_DAYS * 86_400) * _US
        v = _Voucher(
            raw.hex(), reference(raw), pid, account, face, now_us, expires, actor, entry_id
        )
        self.open_count[pid] += 1
        self.counts.vouchers += 1
        fate = self.rng.random()
        if fate < 0.82:
            self.at(now_us + int(self.rng.expovariate(1 / (4 * 86_400)) * _US) % (60 * _DAY_US)
                    + 300 * _US, "redeem", v)  # fmt: skip
        elif fate < 0.89:
            self.at(now_us + self.rng.randint(300, 5 * 86_400) * _US, "cancel", v)
        else:
            # The nightly sweep (credits expire-vouchers) after the expiry.
            self.at(expires + self.rng.randint(3 * 3600, 4 * 3600) * _US, "expire", v)

    def close(self, v: _Voucher, state: str, now_us: int, actor: str, entry_id: int) -> None:
        self.open_count[v.person] -= 1
        self.voucher_row(v, state, now_us, actor, entry_id)

    def voucher_row(
        self, v: _Voucher, state: str, closed_us: int | None, by: str | None, entry: int | None
    ) -> None:
        self.t["voucher"].row(
            v.id, v.person, v.account, v.face, 1, KID, v.ref.replace("-", ""), state,
            _ts(v.issued_us), _ts(v.expires_us), v.issued_by, v.issue_entry,
            None if closed_us is None else _ts(closed_us), by, entry,
        )  # fmt: skip

    def cancel(self, now_us: int, v: _Voucher, kind: str) -> None:
        """cancel (by the member) or expire (by the sweep): the whole face value back."""
        if kind == "cancel":
            actor = v.issued_by
            memo = f"Voucher {v.ref} cancelled: {v.face} credits back"
        else:
            actor = "system:expire-vouchers"
            memo = f"Voucher {v.ref} expired unused: {v.face} credits back"
        entry_id = self.entry(
            kind, now_us, now_us, memo, actor, f"voucher-close:{v.id}",
            [(self.s.outstanding, -v.face), (v.account, v.face)],
        )  # fmt: skip
        self.close(v, "cancelled" if kind == "cancel" else "expired", now_us, actor, entry_id)

    def redeem(self, now_us: int, v: _Voucher) -> None:
        """redeem at a shop's terminal: outstanding −f, shop +a, member +(f−a) if any."""
        if now_us >= v.expires_us:
            self.at(v.expires_us + 3 * 3600 * _US, "expire", v)
            return
        shop = _pick(self.shop_cum, self.rng.random())
        shop_id, terminal = self.s.shop_ids[shop], self.s.terminal_ids[shop]
        actor = self.s.terminal_actors[shop]
        amount = v.face if self.rng.random() < 0.6 else self.rng.randint(1, v.face)
        change = v.face - amount
        offline = self.rng.random() < 0.02
        offline_us = now_us - self.rng.randint(60, 7200) * _US if offline else None
        legs = [(self.s.outstanding, -v.face), (self.s.shop_accounts[shop], amount)]
        if change:
            legs.append((v.account, change))
        memo = redeem_memo(v.id, shop_id, offline=_EPOCH if offline else None)
        entry_id = self.entry("redeem", now_us, now_us, memo, actor, f"voucher-close:{v.id}", legs)
        self.close(v, "redeemed", now_us, actor, entry_id)
        self.counts.redemptions += 1
        rid = f"{self.rng.getrandbits(128):032x}"
        key = f"redemption:{terminal}:{self.rng.getrandbits(64):016x}"
        row = [
            rid, v.id, shop_id, terminal, v.face, amount, change, _ts(now_us),
            None if offline_us is None else _ts(offline_us), entry_id, key,
            _sha(key + "|request"), actor, None, None, None, None, None,
        ]  # fmt: skip
        if self.rng.random() < 0.0005:
            # An officer reverses it within days (the row is written then).
            self.at(now_us + self.rng.randint(3600, 7 * 86_400) * _US, "reverse",
                    (row, v, entry_id, legs))  # fmt: skip
        else:
            self.t["redemption"].row(*row)
        if self.rng.random() < 0.0005 and len(self.s.shop_ids) > 1:
            # The same code shown again at another shop while its terminal was offline.
            self.at(now_us + self.rng.randint(600, 2 * 86_400) * _US, "exception", (v, shop))

    def reverse(self, now_us: int, payload: Any) -> None:
        """An officer reverses a redemption: the value back to the member (a ``cancel``
        entry), then the mirror image of the redeem entry (``reversal``)."""
        row, v, redeem_entry, legs = payload
        rid = row[0]
        actor = self.s.officer_actor
        returned = self.entry(
            "cancel", now_us, now_us,
            f"Voucher {v.ref}: its value returned after its redemption was reversed", actor,
            f"redemption-return:{rid}", [(self.s.outstanding, -v.face), (v.account, v.face)],
        )  # fmt: skip
        reason = "shop reported the sale was refunded"
        mirror = self.entry(
            "reversal", now_us, now_us, f"Redemption of voucher {v.ref} reversed: {reason}",
            actor, f"redemption-reversal:{rid}", [(a, -m) for a, m in legs], reverses=redeem_entry,
        )  # fmt: skip
        row[13:18] = [_ts(now_us), actor, reason, mirror, returned]
        self.t["redemption"].row(*row)

    def exception(self, now_us: int, payload: Any) -> None:
        """An offline acceptance of a voucher already spent: the scheme pays the shop from
        adjustments and records an exception naming the member."""
        v, first_shop = payload
        shop = (first_shop + 1 + self.rng.randrange(len(self.s.shop_ids) - 1)) % len(
            self.s.shop_ids
        )
        shop_id, terminal = self.s.shop_ids[shop], self.s.terminal_ids[shop]
        amount = min(v.face, 20)
        key = f"redemption:{terminal}:{self.rng.getrandbits(64):016x}"
        entry_id = self.entry(
            "adjustment", now_us, now_us,
            f"Voucher {v.ref} accepted offline at shop {shop_id} but already_redeemed: "
            "the scheme pays the shop", self.s.terminal_actors[shop],
            f"redemption-exception:{key}",
            [(self.s.adjustments, -amount), (self.s.shop_accounts[shop], amount)],
        )  # fmt: skip
        self.t["exception"].row(
            f"{self.rng.getrandbits(128):032x}", v.id, shop_id, terminal, v.person, amount,
            "already_redeemed", f"Voucher {v.ref}: already spent at another shop",
            _ts(now_us - 3600 * _US), _ts(now_us), entry_id, key, _sha(key + "|request"),
            "paid", _ts(now_us),
        )  # fmt: skip

    # --- the days ---

    def run(self, days: list[date], end_us: int, progress: Callable[[str], None]) -> None:
        """Simulate ``days`` (London dates, in order); events after ``end_us`` never happen
        (those vouchers stay open)."""
        handlers: dict[str, Callable[[int, Any], None]] = {
            "issue": self.issue,
            "redeem": self.redeem,
            "cancel": lambda t, v: self.cancel(t, v, "cancel"),
            "expire": lambda t, v: self.cancel(t, v, "expire"),
            "reverse": self.reverse,
            "exception": self.exception,
            "earn": lambda t, a: self.award(*a[:2], a[2], a[3], t, a[4], a[5]),
        }
        per_line = 5.5  # postings per earned line once vouchers flow (re-estimated daily)
        month_days: dict[str, int] = defaultdict(int)
        for d in days:
            month_days[dates.month_key(d)] += 1
        target = 0.0
        groups = len(self.s.group_coordinator)
        for n, day in enumerate(days):
            start = _us(datetime.combine(day, datetime.min.time(), tzinfo=LONDON))
            stop = _us(datetime.combine(day + timedelta(days=1), datetime.min.time(),
                                        tzinfo=LONDON))  # fmt: skip
            target += self.p.postings_per_month / month_days[dates.month_key(day)]
            if self.counts.lines:
                per_line = max(2.0, self.counts.postings / self.counts.lines)
            lines = int(max(0.0, target - self.counts.postings) / per_line)
            lines = min(lines, int(3 * self.p.postings_per_month / 30 / per_line) + 10)
            acts = self.s.activities
            winter = day.month in (12, 1, 2)
            weights = (0.45, 0.3, 0.25) if winter else (0.1, 0.5, 0.4)
            while lines > 0:
                activity = self.rng.choices(acts, weights)[0]
                g = self.rng.randrange(groups)
                coordinator, actor = self.s.group_coordinator[g]
                if self.rng.random() < 0.25:
                    size = min(lines, self.rng.randint(8, 40))
                    kind = "session"
                else:
                    size, kind = 1, "record"
                members = [self._member_of(g) for _ in range(size)]
                members = list(dict.fromkeys(members))
                back = self.rng.choice((0, 0, 0, 1, 2, 3))
                occurred = max(days[0], day - timedelta(days=back))
                when = start + self.rng.randrange(stop - start)
                self.at(when, "earn", (kind, coordinator, actor, occurred, activity, members))
                lines -= size
            while self.events and self.events[0][0] < stop:
                when, _, kind, payload = heapq.heappop(self.events)
                if when > end_us:
                    continue
                handlers[kind](when, payload)
            if n % 30 == 29:
                progress(
                    f"{day}: {self.counts.entries:,} entries, {self.counts.postings:,} postings"
                )
        # Vouchers still open at the end of the history.
        for _when, _, kind, payload in self.events:
            if kind in ("redeem", "cancel", "expire"):
                self.voucher_row(payload, "open", None, None, None)
            elif kind == "reverse":
                self.t["redemption"].row(*payload[0])
        self.events = []

    def _member_of(self, group: int) -> int:
        groups = len(self.s.group_coordinator)
        members = len(self.s.member_ids)
        per_group = (members - group + groups - 1) // groups
        return group + groups * self.rng.randrange(per_group)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return [x / total for x in out]


def _pick(cumulative: list[float], r: float) -> int:
    import bisect

    return min(bisect.bisect_left(cumulative, r), len(cumulative) - 1)


# --- setting up the scheme --------------------------------------------------------------------


def _setup(url: str, params: Params) -> _Setup:
    """The officer, activities, coordinators and groups, shops and terminals through the use
    cases; the members with one INSERT ... SELECT each for people, roles and accounts."""
    db = Database(make_engine(url))
    db.run(lambda s: ledger.bootstrap(s))
    groups = max(1, params.members // 500)

    def officials(s: Any) -> dict[str, Any]:
        officer = create_person(
            s, name="Bench Officer", email="officer@bench.example",
            roles=(Role.OFFICER,), granted_by="bench",
        )  # fmt: skip
        o = Principal(role=Role.OFFICER, name="o", person_id=officer.id, via="bench")
        activities = [
            earning.create_activity(
                s, o, {**a, "monthly_budget_credits": 100_000_000, "description": ""}
            )
            for a in ACTIVITIES
        ]
        coordinators = []
        for g in range(groups):
            c = create_person(
                s, name=f"Coordinator {g}", email=f"c{g}@bench.example",
                roles=(Role.COORDINATOR,), granted_by="bench",
            )  # fmt: skip
            group = earning.create_group(
                s, o, {"name": f"Group {g}", "activities": [a["slug"] for a in ACTIVITIES]}
            )
            earning.add_coordinator(s, o, group.id, c.email)
            who = Principal(role=Role.COORDINATOR, name="c", person_id=c.id, via=f"token:{g + 1}")
            coordinators.append((c.id, who.actor, group.id))
        shop_rows = []
        for n in range(params.shops):
            shop = shops.create_shop(s, o, name=f"Shop {n:03d}", address=f"{n} High Street")
            terminal, _ = shops.add_terminal(s, o, shop.id, name="Counter")
            shop_rows.append((shop.id, shop.ledger_account_id, terminal.id))
        return {
            "officer": o.actor,
            "activities": activities,
            "coordinators": coordinators,
            "shops": shop_rows,
        }

    made = db.run(officials)
    db.engine.dispose()
    conninfo = _conninfo(url)
    with psycopg.connect(conninfo) as conn:
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM person").fetchone()
        assert first is not None
        conn.execute(
            "INSERT INTO person (name, email, status, created_at, created_by) "
            "SELECT 'Member ' || g, 'm' || g || '@bench.example', 'active', now(), 'bench' "
            "FROM generate_series(1, %s) g",
            (params.members,),
        )
        conn.execute(
            "INSERT INTO person_role (person_id, role, granted_at, granted_by) "
            "SELECT id, 'member', now(), 'bench' FROM person WHERE id >= %s",
            (first[0],),
        )
        conn.execute(
            "INSERT INTO account (code, type, owner_ref, name, allow_negative, slots, created_at) "
            "SELECT 'member:' || id, 'member', 'person:' || id, name, false, 1, now() "
            "FROM person WHERE id >= %s ORDER BY id",
            (first[0],),
        )
        conn.execute(
            "UPDATE person p SET ledger_account_id = a.id FROM account a "
            "WHERE a.code = 'member:' || p.id AND p.id >= %s",
            (first[0],),
        )
        members = conn.execute(
            "SELECT id, ledger_account_id FROM person WHERE id >= %s ORDER BY id", (first[0],)
        ).fetchall()
        group_ids = [g for _, _, g in made["coordinators"]]
        conn.execute(
            "INSERT INTO volunteer_group_member (group_id, person_id, added_at, added_by) "
            "SELECT (%s::bigint[])[1 + (row_number() OVER (ORDER BY id) - 1) %% %s], id, now(), "
            "'bench' FROM person WHERE id >= %s",
            (group_ids, len(group_ids), first[0]),
        )
        tokens = dict(
            conn.execute("SELECT terminal_id, id FROM api_token WHERE terminal_id IS NOT NULL")
        )
        scheme = dict(conn.execute("SELECT code, id FROM account WHERE code LIKE 'scheme:%'"))
    return _Setup(
        issuance=scheme[ledger.ISSUANCE],
        outstanding=scheme[ledger.VOUCHERS_OUTSTANDING],
        adjustments=scheme[ledger.ADJUSTMENTS],
        officer_actor=made["officer"],
        activities=made["activities"],
        member_ids=[int(p) for p, _ in members],
        member_accounts=[int(a) for _, a in members],
        group_coordinator=[(c, actor) for c, actor, _ in made["coordinators"]],
        shop_ids=[s for s, _, _ in made["shops"]],
        shop_accounts=[a for _, a, _ in made["shops"]],
        terminal_ids=[t for _, _, t in made["shops"]],
        terminal_actors=[
            f"terminal:{t} as terminal via token:{tokens[t]}" for _, _, t in made["shops"]
        ],
    )


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


_COLUMNS = {
    "entry": (
        "journal_entry",
        "id, kind, memo, actor, occurred_at, recorded_at, idempotency_key, request_hash, "
        "reverses_entry_id, lane, lane_seq, content_hash, prev_hash, hash",
    ),
    "posting": ("posting", "id, entry_id, account_id, amount"),
    "award": (
        "award",
        "id, kind, state, activity_id, occurred_on, unit, credits_per_unit, total_credits, "
        "line_count, note, idempotency_key, request_hash, needs_officer, created_by_person_id, "
        "created_by, created_at, first_approver_id, first_approved_by, first_approved_at, "
        "entry_id, posted_at",
    ),
    "line": ("award_line", "id, award_id, person_id, quantity_centi, credits"),
    "voucher": (
        "voucher",
        "id, person_id, account_id, face_value, scheme_id, kid, reference, state, issued_at, "
        "expires_at, issued_by, issue_entry_id, closed_at, closed_by, closed_entry_id",
    ),
    "redemption": (
        "redemption",
        "id, voucher_id, shop_id, terminal_id, face_value, amount, change, redeemed_at, "
        "offline_accepted_at, entry_id, idempotency_key, request_hash, actor, reversed_at, "
        "reversed_by, reversal_reason, reversal_entry_id, return_entry_id",
    ),
    "exception": (
        "redemption_exception",
        "id, voucher_id, shop_id, terminal_id, person_id, amount, reason, detail, "
        "offline_accepted_at, submitted_at, entry_id, idempotency_key, request_hash, "
        "status, paid_at",
    ),
}


def history_days(params: Params) -> list[date]:
    """The London dates of the history: ``months`` whole months ending with ``last_month``."""
    last = Month.parse(params.last_month)
    first_index = last.year * 12 + last.month - 1 - (params.months - 1)
    day = date(first_index // 12, first_index % 12 + 1, 1)
    stop = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    out = []
    while day < stop:
        out.append(day)
        day += timedelta(days=1)
    return out


def generate(url: str, params: Params, progress: Callable[[str], None] = print) -> _Counts:
    """Recreate the scratch database and fill it with a history made with ``params``."""
    url = scratch_database(url)
    setup = _setup(url, params)
    days = history_days(params)
    end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), tzinfo=LONDON)
    conninfo = _conninfo(url)
    with ExitStack() as stack:
        tables = {
            name: _Table(stack, conninfo, table, columns)
            for name, (table, columns) in _COLUMNS.items()
        }
        history = _History(params, setup, tables)
        history.run(days, _us(end), progress)
        for t in tables.values():
            t.flush()
        progress("committing the COPY streams (indexes are built as rows arrive)")
    # The stored balances, lane heads, counters and sequences, as the use cases leave them.
    with psycopg.connect(conninfo) as conn:
        _finish(conn, history, setup)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        name = make_url(url).database
        conn.execute(f'COMMENT ON DATABASE "{name}" IS {_literal(params.key())}')
    return history.counts


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _finish(conn: psycopg.Connection[Any], h: _History, setup: _Setup) -> None:
    slots = dict(conn.execute("SELECT id, slots FROM account").fetchall())
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_balance (account_id bigint, slot smallint, b bigint)")
        with cur.copy("COPY bench_balance FROM STDIN") as copy:
            for account, n in slots.items():
                total = h.balance.get(account, 0)
                for slot in range(n):
                    share = total // n + (total % n if slot == 0 else 0)
                    copy.write_row((account, slot, share))
        # Members made by the INSERT ... SELECT have no balance rows yet; the rest do.
        cur.execute(
            "INSERT INTO account_balance (account_id, slot, balance, allow_negative) "
            "SELECT b.account_id, b.slot, 0, a.allow_negative FROM bench_balance b "
            "JOIN account a ON a.id = b.account_id ON CONFLICT DO NOTHING"
        )
        cur.execute(
            "UPDATE account_balance ab SET balance = b.b FROM bench_balance b "
            "WHERE ab.account_id = b.account_id AND ab.slot = b.slot"
        )
        for lane in range(LANES):
            cur.execute(
                "UPDATE chain_lane SET seq = %s, head_hash = %s WHERE lane = %s",
                (h.lane_seq[lane], h.lane_head[lane].hex(), lane),
            )
        with cur.copy(
            "COPY activity_budget (activity_id, month, issued_credits) FROM STDIN"
        ) as copy:
            for (activity, month), credits in h.budget.items():
                copy.write_row((activity, month, credits))
        with cur.copy(
            "COPY member_activity_usage (person_id, activity_id, period, credits) FROM STDIN"
        ) as copy:
            for (person, activity, period), credits in h.usage.items():
                if credits:
                    copy.write_row((person, activity, period, credits))
        for table, column in (
            ("journal_entry", "id"),
            ("posting", "id"),
            ("award", "id"),
            ("award_line", "id"),
        ):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"(SELECT coalesce(max({column}), 0) + 1 FROM {table}), false)"
            )
    conn.commit()


def stored_params(url: str) -> str | None:
    """The parameters of the history already in the database, or None."""
    parsed = make_url(url)
    try:
        with psycopg.connect(_conninfo(str(parsed.set(database="postgres")))) as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (parsed.database,),
            ).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else row[0]


# --- what is timed ----------------------------------------------------------------------------


def run_verify(url: str, *, thorough: bool = False, jobs: int | None = None) -> dict[str, Any]:
    """Run the real ``credits verify --json`` against ``url`` (``--jobs`` when given); its
    output, plus wall time."""
    env = {**os.environ, "CREDITS_DATABASE_URL": url}
    with tempfile.TemporaryDirectory() as instance:
        env["CREDITS_INSTANCE_PATH"] = instance
        args = [sys.executable, "-m", "credits.cli", "verify", "--json"]
        if thorough:
            args.append("--thorough")
        if jobs is not None:
            args.append(f"--jobs={jobs}")
        t0 = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"credits verify failed to run:\n{done.stderr}")
    out = json.loads(done.stdout)
    out["wall_s"] = wall
    return out


def history_months(params: Params) -> list[str]:
    """The history's London months, oldest first."""
    days = history_days(params)
    first = Month.containing(datetime.combine(days[0], datetime.min.time(), tzinfo=LONDON))
    out = [first]
    while str(out[-1]) != params.last_month:
        out.append(out[-1].next())
    return [str(m) for m in out]


def close_months(url: str, months: list[str]) -> list[tuple[str, float]]:
    """Close ``months`` in order with the real close (statement hash, ``closed_period``,
    ``month_close``, snapshot), each in its own transaction; the time of each.

    The reconciliation checks are not run at each close: they read the whole ledger, so 11
    closes would run the same 100-second verify 11 times over an unchanged journal. The
    bench runs the real ``credits verify`` once afterwards instead, which also checks every
    snapshot the closes wrote (``month_snapshots``)."""
    from credits import audit
    from credits.db import utcnow
    from credits.statements import close

    db = Database(make_engine(url))
    actor = audit.Actor.system("bench")
    original = close.run_checks
    close.run_checks = lambda session, **kw: []  # type: ignore[assignment]
    out = []
    try:
        for month in months:
            t0 = time.perf_counter()
            m = Month.parse(month)
            db.run(lambda s, m=m: close.close_month(s, actor, m, now=utcnow()))
            out.append((month, time.perf_counter() - t0))
    finally:
        close.run_checks = original  # type: ignore[assignment]
        db.engine.dispose()
    return out


def _median_time(fn: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def time_statements(url: str, month: str, runs: int) -> list[tuple[str, float, list[float]]]:
    """Median time of ``month``'s statement for the scheme and for its busiest shop, built by
    ``credits.statements.build_statement`` in a read transaction of its own, as the API and
    the command line build it."""
    from credits.statements import build_statement

    m = Month.parse(month)
    db = Database(make_engine(url))
    with db.read() as s:
        busiest = s.execute(
            text(
                "SELECT shop_id FROM redemption WHERE redeemed_at >= :a AND redeemed_at < :b "
                "GROUP BY shop_id ORDER BY count(*) DESC LIMIT 1"
            ),
            {"a": m.starts_at, "b": m.ends_at},
        ).scalar()
    out: list[tuple[str, float, list[float]]] = []
    for label, shop in (("scheme", None), (f"shop {busiest} (the busiest)", busiest)):
        if label != "scheme" and shop is None:
            continue

        def one(shop: int | None = shop) -> object:
            with db.read() as s:
                return build_statement(s, m, shop_id=shop)

        med, times = _median_time(one, runs)
        out.append((f"{month} {label}", med, times))
    db.engine.dispose()
    return out


def _size(url: str) -> dict[str, int]:
    with psycopg.connect(_conninfo(url)) as conn:
        out = {}
        for label, sql in (
            ("entries", "SELECT count(*) FROM journal_entry"),
            ("postings", "SELECT count(*) FROM posting"),
            ("members", "SELECT count(*) FROM account WHERE type = 'member'"),
            ("shops", "SELECT count(*) FROM shop"),
            ("vouchers", "SELECT count(*) FROM voucher"),
            ("redemptions", "SELECT count(*) FROM redemption"),
            ("awards", "SELECT count(*) FROM award"),
            ("award lines", "SELECT count(*) FROM award_line"),
        ):
            row = conn.execute(sql).fetchone()
            assert row is not None
            out[label] = int(row[0])
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        out["database bytes"] = int(row[0])
    return out


def _last_full_month() -> str:
    today = datetime.now(LONDON).date()
    index = today.year * 12 + today.month - 2
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@contextmanager
def _phase(name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    print(f"-- {name} ...", flush=True)
    yield
    print(f"-- {name}: {time.perf_counter() - t0:.1f} s  (load {_load()})", flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _print_statement_table(title: str, url: str, months: list[str], runs: int) -> None:
    """Time each month's statements and print them as a Markdown table under ``title``."""
    print(f"\n## {title}")
    print("| month and statement | median | runs |")
    print("|---|---:|---|")
    for month in dict.fromkeys(months):
        for label, med, times in time_statements(url, month, runs):
            each = ", ".join(f"{t * 1000:.0f}" for t in times)
            print(f"| {label} | {med * 1000:.0f} ms | {each} |")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m credits.bench statements")
    parser.add_argument("--url", default=DEFAULT_URL, help="scratch database (credits_bench*)")
    parser.add_argument("--borough", action="store_true",
                        help="the issue's size: 50,000 members, 300 shops, 12 months of "
                        "1,000,000 postings")  # fmt: skip
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--shops", type=int, default=30)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--postings-per-month", type=int, default=100_000)
    parser.add_argument("--last-month", default=None, help="YYYY-MM (default: last month)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--reuse", action="store_true", help="keep a database holding these parameters' history"
    )
    parser.add_argument("--runs", type=int, default=5, help="statement runs (median)")
    parser.add_argument(
        "--month", action="append", help="statement month (default: the last and the first)"
    )
    parser.add_argument(
        "--close",
        action="store_true",
        help="then close every month before the last in order (snapshots) and time the "
        "statements again",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip credits verify")
    parser.add_argument("--thorough", action="store_true", help="also verify --thorough")
    parser.add_argument(
        "--verify-jobs",
        type=int,
        action="append",
        help="run credits verify with --jobs N (repeat to compare; default: its default)",
    )
    args = parser.parse_args(argv)
    if args.borough:
        args.members, args.shops, args.months, args.postings_per_month = (
            50_000, 300, 12, 1_000_000,
        )  # fmt: skip
    params = Params(
        members=args.members,
        shops=args.shops,
        months=args.months,
        postings_per_month=args.postings_per_month,
        last_month=args.last_month or _last_full_month(),
        seed=args.seed,
    )
    print(f"# statements benchmark — {machine()}, load {_load()}")
    print(f"parameters: {params.key()}")
    if args.reuse and stored_params(args.url) == params.key():
        print("reusing the history already in the database")
        # A history kept from an older version of the code: bring its schema to head.
        upgrade_to_head(make_engine(args.url))
    else:
        t0 = time.perf_counter()
        with _phase("generate"):
            generate(args.url, params, progress=lambda m: print(f"   {m}", flush=True))
        print(f"generation: {time.perf_counter() - t0:.0f} s")
    size = _size(args.url)
    print("size: " + ", ".join(f"{k} {v:,}" for k, v in size.items()))
    # The month just ended (the usual statement) and the history's first month (the most
    # data after it: the statement reads every posting from the month's start on).
    months = args.month or [
        params.last_month,
        str(
            Month.containing(
                datetime.combine(history_days(params)[0], datetime.min.time(), tzinfo=LONDON)
            )
        ),
    ]
    _print_statement_table(
        f"build_statement, median of {args.runs} runs (load {_load()})", args.url, months, args.runs
    )
    if args.close:
        print(f"\n## closing the months before {params.last_month} in order (load {_load()})")
        for month, took in close_months(args.url, history_months(params)[:-1]):
            print(f"   close {month}: {took:.1f} s")
        _print_statement_table(
            f"build_statement with the months closed, median of {args.runs} runs",
            args.url,
            months,
            args.runs,
        )
    if args.no_verify:
        return
    modes = [False, True] if args.thorough else [False]
    for thorough in modes:
        for jobs in args.verify_jobs or [None]:
            title = "credits verify" + (" --thorough" if thorough else "")
            title += f" --jobs={jobs}" if jobs is not None else ""
            print(f"\n## {title} (load {_load()})")
            result = run_verify(args.url, thorough=thorough, jobs=jobs)
            print("| check | checked | time | ok |")
            print("|---|---:|---:|---|")
            for c in result["checks"]:
                print(
                    f"| {c['name']} | {c['checked']:,} | {c.get('elapsed_s', float('nan')):.1f} s"
                    f" | {'ok' if c['ok'] else 'FAIL: ' + '; '.join(c['problems'][:3])} |"
                )
            print(f"| **total** (the whole command) | | **{result['wall_s']:.1f} s** | "
                  f"{'ok' if result['ok'] else 'FAILED'} |")  # fmt: skip
            if not result["ok"]:
                sys.exit(1)
