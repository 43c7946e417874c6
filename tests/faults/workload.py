"""A seeded, randomized workload of the whole scheme, from concurrent clients that retry
with their idempotency keys, and the model it is checked against.

Each client owns a few members (no other client touches them), so it knows exactly what
their balances and vouchers must be; shops are shared, and their model is the sum of every
client's acknowledged redemptions and reversals. A client repeats each operation — same
body, same idempotency key — until it gets a definite answer (not a dropped connection, a
timeout or a 5xx), so when the run ends every operation is either acknowledged or refused,
none is in doubt, and the ledger must equal the model exactly.

Operations: earn (a coordinator records an activity), issue a voucher, redeem it in full
or in part at a shop's terminal, cancel it, expire it (the expiry job's use case, on
vouchers seeded 100 days back), reverse a redemption (an officer) and adjust a balance (an
officer). An answer a careful client could not have expected — a refusal for want of
credits the model says are there, a 409 on the first try of a voucher the client alone
holds, any 500 — is recorded as a violation and fails the test.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

LONDON = ZoneInfo("Europe/London")

#: Answers that leave an operation's outcome open: send it again.
RETRY_STATUSES = frozenset({502, 503, 504})

OPS = ("earn", "issue", "redeem_full", "redeem_part", "cancel", "expire", "reverse", "adjust")
WEIGHTS = (3, 6, 3, 3, 2, 1, 1, 2)


@dataclass
class Member:
    email: str
    token: str
    person_id: int
    account_id: int


@dataclass
class Voucher:
    id: str
    code: str
    amount: int
    owner: Member
    state: str = "open"  # open, redeemed, cancelled, expired
    redemption_id: str | None = None
    redeemed_amount: int = 0
    shop_id: int | None = None
    reversed: bool = False


@dataclass
class Scheme:
    """What the demo seed and the set-up made: tokens and ids the clients use."""

    officer_token: str
    coordinator_token: str
    members: list[Member]
    shops: list[tuple[int, str]]  # (shop id, terminal token)
    expirable: dict[int, list[Voucher]]  # person id -> vouchers issued 100 days ago


@dataclass
class Tally:
    """Counts shared by every client (thread-safe)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    resent: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)  # seconds an op waited for an answer
    ack_times: list[float] = field(default_factory=list)  # time.monotonic() of each ack

    def add(self, counter: str, key: Any, n: int = 1) -> None:
        with self.lock:
            getattr(self, counter)[key] += n

    def violation(self, text_: str) -> None:
        with self.lock:
            self.violations.append(text_)


class Client(threading.Thread):
    """One client: its own members, its own random stream, sequential operations."""

    def __init__(
        self,
        index: int,
        seed: int,
        urls: list[str],
        scheme: Scheme,
        members: list[Member],
        tally: Tally,
        *,
        stop: threading.Event,
        give_up_at: float,
        expire: Callable[[str], str],
    ) -> None:
        super().__init__(name=f"client-{index}", daemon=True)
        self.index = index
        self.rng = random.Random(seed)
        self.urls = urls
        self.scheme = scheme
        self.members = members
        self.tally = tally
        self.stop = stop
        self.give_up_at = give_up_at
        self.expire_voucher = expire
        self.balance = {m.person_id: 0 for m in members}
        self.vouchers: list[Voucher] = []
        for m in members:
            self.vouchers += scheme.expirable.get(m.person_id, [])
        self.shop_delta: Counter[int] = Counter()
        self.ops = 0
        self.error: BaseException | None = None

    # --- HTTP ---------------------------------------------------------------------------

    def call(self, method: str, path: str, token: str, body: Any, op: str) -> tuple[int, Any]:
        """Send until a definite answer: the same body (and key) every time."""
        payload = json.dumps(body).encode() if body is not None else None
        started = time.monotonic()
        tries = 0
        while True:
            tries += 1
            url = self.rng.choice(self.urls)
            host, port = url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=15)
            try:
                headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
                if payload is not None:
                    headers["Content-Type"] = "application/json"
                conn.request(method, path, body=payload, headers=headers)
                resp = conn.getresponse()
                status = resp.status
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                status, raw = 0, b""
            finally:
                conn.close()
            self.tally.add("statuses", status)
            if status == 500:
                self.tally.violation(f"{op}: 500 from {method} {path}: {raw[:300]!r}")
            if status in RETRY_STATUSES or status in (0, 500):
                if time.monotonic() > self.give_up_at:
                    raise TimeoutError(f"{op}: no definite answer to {method} {path} in time")
                self.tally.add("resent", op)
                # A client's pause before trying again (a real one would do the same).
                time.sleep(min(0.5, 0.02 * 2 ** min(tries, 5)) * self.rng.uniform(0.5, 1.0))
                continue
            if tries > 1:
                with self.tally.lock:
                    self.tally.gaps.append(time.monotonic() - started)
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            return status, (data, tries)

    def key(self, op: str) -> str:
        self.ops += 1
        return f"faults-{self.index}-{self.ops}-{op}"

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                op = self.rng.choices(OPS, WEIGHTS)[0]
                getattr(self, f"op_{op}")()
        except BaseException as exc:
            self.error = exc

    def ack(self, op: str) -> None:
        self.tally.add("acknowledged", op)
        with self.tally.lock:
            self.tally.ack_times.append(time.monotonic())

    def refuse(self, op: str, code: str) -> None:
        self.tally.add("refused", f"{op}:{code}")

    def unexpected(self, op: str, status: int, data: Any, tries: int) -> None:
        self.tally.violation(f"{op}: unexpected {status} after {tries} tries: {data}")

    def member(self) -> Member:
        return self.rng.choice(self.members)

    def open_vouchers(self, *, fresh: bool) -> list[Voucher]:
        expirable = {v.id for vs in self.scheme.expirable.values() for v in vs}
        return [v for v in self.vouchers if v.state == "open" and (v.id not in expirable) == fresh]

    # --- operations -------------------------------------------------------------------------

    def op_earn(self) -> None:
        m = self.member()
        slug = self.rng.choice(["snow-clearing", "speed-watch", "good-gym-run"])
        body = {
            "member_email": m.email,
            "activity": slug,
            "quantity": 1,
            "occurred_on": datetime.now(LONDON).date().isoformat(),
            "idempotency_key": self.key("earn"),
        }
        status, (data, tries) = self.call(
            "POST", "/api/v1/earnings", self.scheme.coordinator_token, body, "earn"
        )
        if status == 201 and data.get("state") == "posted":
            self.balance[m.person_id] += int(data["credits"])
            self.ack("earn")
        elif status in (201, 202):
            self.refuse("earn", "pending")  # waiting for approval: no credits yet
        elif status == 409 and data.get("code") in ("cap_exceeded", "budget_exceeded"):
            self.refuse("earn", data["code"])
        else:
            self.unexpected("earn", status, data, tries)

    def op_issue(self) -> None:
        m = self.member()
        if sum(1 for v in self.vouchers if v.owner is m and v.state == "open") >= 12:
            return
        amount = self.rng.choice([5, 10, 20, 40])
        body = {"amount": amount, "idempotency_key": self.key("issue")}
        status, (data, tries) = self.call("POST", "/api/v1/vouchers", m.token, body, "issue")
        if status == 201:
            if data["amount"] != amount:
                self.unexpected("issue", status, data, tries)
                return
            self.balance[m.person_id] -= amount
            self.vouchers.append(Voucher(data["id"], data["code"], amount, m))
            self.ack("issue")
        elif status == 409 and data.get("code") == "insufficient_funds":
            if self.balance[m.person_id] >= amount:
                self.tally.violation(
                    f"issue: insufficient_funds for {amount} but the model holds "
                    f"{self.balance[m.person_id]} for person {m.person_id}"
                )
            self.refuse("issue", "insufficient_funds")
        else:
            self.unexpected("issue", status, data, tries)

    def _redeem(self, op: str, partial: bool) -> None:
        choices = self.open_vouchers(fresh=True)
        if not choices:
            return
        v = self.rng.choice(choices)
        shop_id, token = self.rng.choice(self.scheme.shops)
        body: dict[str, Any] = {"code": v.code, "idempotency_key": self.key(op)}
        amount = v.amount
        if partial and v.amount > 1:
            amount = self.rng.randrange(1, v.amount)
            body["amount"] = amount
        status, (data, tries) = self.call("POST", "/api/v1/redemptions", token, body, op)
        if status == 201 and data["amount"] == amount and data["voucher_id"] == v.id:
            v.state, v.redemption_id, v.redeemed_amount, v.shop_id = (
                "redeemed",
                data["id"],
                amount,
                shop_id,
            )
            self.balance[v.owner.person_id] += v.amount - amount
            self.shop_delta[shop_id] += amount
            self.ack(op)
        else:
            self.unexpected(op, status, data, tries)

    def op_redeem_full(self) -> None:
        self._redeem("redeem_full", partial=False)

    def op_redeem_part(self) -> None:
        self._redeem("redeem_part", partial=True)

    def op_cancel(self) -> None:
        choices = self.open_vouchers(fresh=True)
        if not choices:
            return
        v = self.rng.choice(choices)
        status, (data, tries) = self.call(
            "POST", f"/api/v1/vouchers/{v.id}/cancel", v.owner.token, None, "cancel"
        )
        # After a try whose answer was lost, "already cancelled" is that try's success.
        if status == 200 or (
            status == 409 and tries > 1 and data.get("code") == "voucher_cancelled"
        ):
            v.state = "cancelled"
            self.balance[v.owner.person_id] += v.amount
            self.ack("cancel")
        else:
            self.unexpected("cancel", status, data, tries)

    def op_expire(self) -> None:
        choices = self.open_vouchers(fresh=False)
        if not choices:
            return
        v = self.rng.choice(choices)
        # A terminal that tries it first is refused: it expired 10 days ago.
        _, token = self.rng.choice(self.scheme.shops)
        body = {"code": v.code, "idempotency_key": self.key("redeem_expired")}
        status, (data, tries) = self.call("POST", "/api/v1/redemptions", token, body, "expire")
        if not (status in (409, 422) and data.get("code") == "expired"):
            self.unexpected("expire (redeem first)", status, data, tries)
            return
        state = self.expire_voucher(v.id)
        if state != "expired":
            self.tally.violation(f"expire: voucher {v.id} ended {state}")
            return
        v.state = "expired"
        self.balance[v.owner.person_id] += v.amount
        self.ack("expire")

    def op_reverse(self) -> None:
        choices = [v for v in self.vouchers if v.state == "redeemed" and not v.reversed]
        if not choices:
            return
        v = self.rng.choice(choices)
        status, (data, tries) = self.call(
            "POST",
            f"/api/v1/redemptions/{v.redemption_id}/reverse",
            self.scheme.officer_token,
            {"reason": "the customer returned the goods"},
            "reverse",
        )
        if status == 200 or (
            status == 409 and tries > 1 and data.get("code") == "already_reversed"
        ):
            v.reversed = True
            self.balance[v.owner.person_id] += v.redeemed_amount
            assert v.shop_id is not None
            self.shop_delta[v.shop_id] -= v.redeemed_amount
            self.ack("reverse")
        else:
            self.unexpected("reverse", status, data, tries)

    def op_adjust(self) -> None:
        m = self.member()
        direction = self.rng.choice(["credit", "debit"])
        amount = self.rng.randrange(1, 30)
        body = {
            "person_id": m.person_id,
            "direction": direction,
            "amount": amount,
            "reason": "fault suite: a correction",
            "idempotency_key": self.key("adjust"),
        }
        status, (data, tries) = self.call(
            "POST", "/api/v1/adjustments", self.scheme.officer_token, body, "adjust"
        )
        if status == 201 and data.get("state") == "posted":
            self.balance[m.person_id] += amount if direction == "credit" else -amount
            self.ack("adjust")
        elif status == 409 and data.get("code") == "insufficient_funds" and direction == "debit":
            if self.balance[m.person_id] >= amount:
                self.tally.violation(
                    f"adjust: insufficient_funds for a debit of {amount} but the model holds "
                    f"{self.balance[m.person_id]} for person {m.person_id}"
                )
            self.refuse("adjust", "insufficient_funds")
        else:
            self.unexpected("adjust", status, data, tries)


# --- set-up ---------------------------------------------------------------------------------


def prepare(
    database_url: str, instance: Path, *, members: int, credits: int, expirable: int
) -> Scheme:
    """Migrate, seed the demo scheme (members holding ``credits``), and issue each member
    ``expirable`` vouchers dated 100 days back (so they are 10 days past their expiry)."""
    from sqlalchemy import select

    from credits.accounts import Person
    from credits.demo import seed
    from credits.services import Services
    from credits.vouchers.runtime import runtime
    from credits.vouchers.service import code_for, issue_voucher

    svc = Services.build(
        {"DATABASE_URL": database_url, "INSTANCE_PATH": str(instance)}, migrate=True
    )
    try:
        demo = seed(svc, members=members, credits=credits)
        rt = runtime(svc.settings)
        emails = [m["email"] for m in demo["members"]]
        with svc.db.read() as s:
            people = {
                p.email: p
                for p in s.execute(select(Person).where(Person.email.in_(emails))).scalars()  # type: ignore[attr-defined]
            }
        out = [
            Member(
                m["email"], m["token"], people[m["email"]].id, people[m["email"]].ledger_account_id
            )
            for m in demo["members"]
        ]
        back = datetime.now(UTC) - timedelta(days=100)
        old: dict[int, list[Voucher]] = {}
        for m in out:
            for n in range(expirable):

                def issue(s: Any, m: Member = m, n: int = n) -> Any:
                    voucher, _ = issue_voucher(
                        s,
                        keyring=rt.keyring,
                        policy=rt.policy,
                        person_id=m.person_id,
                        amount=5,
                        client_key=f"faults-old-{n}",
                        actor="test:faults",
                        now=back + timedelta(seconds=n),
                    )
                    return voucher, code_for(voucher, rt.keyring)

                voucher, code = svc.db.run(issue)
                old.setdefault(m.person_id, []).append(Voucher(voucher.id, code, 5, m))
        return Scheme(
            officer_token=demo["officer"]["token"],
            coordinator_token=demo["coordinator"]["token"],
            members=out,
            shops=[(s["id"], s["terminal_token"]) for s in demo["shops"]],
            expirable=old,
        )
    finally:
        svc.close()


def join_group(url: str, scheme: Scheme) -> None:
    """Put every member in the demo coordinator's group (so they can be awarded)."""
    import httpx

    auth = {"Authorization": f"Bearer {scheme.officer_token}"}
    with httpx.Client(base_url=url + "/api/v1", headers=auth, timeout=30) as client:
        groups = client.get("/groups").json()
        items = groups["items"] if isinstance(groups, dict) and "items" in groups else groups
        group_id = items[0]["id"]
        for m in scheme.members:
            r = client.post(f"/groups/{group_id}/members", json={"email": m.email})
            assert r.status_code in (200, 201, 409), r.text


def expirer(database_url: str, instance: Path) -> tuple[Callable[[str], str], Callable[[], None]]:
    """The expiry job's use case for one voucher, run in this process through the unit of
    work (and so through the same faults): returns the voucher's state afterwards."""
    from credits.db import utcnow
    from credits.errors import Unavailable
    from credits.services import Services
    from credits.vouchers.models import Voucher as VoucherRow
    from credits.vouchers.service import expire_one

    svc = Services.build({"DATABASE_URL": database_url, "INSTANCE_PATH": str(instance)})

    def expire_and_read(s: Any, voucher_id: str) -> str:
        expire_one(s, voucher_id, actor="system:expire-vouchers", now=utcnow())
        row = s.get(VoucherRow, voucher_id)
        assert row is not None
        return str(row.state)

    def expire(voucher_id: str) -> str:
        deadline = time.monotonic() + 60
        while True:
            try:
                # The state is read in the same unit of work, so that a connection the
                # faults end under the read is met as Unavailable and tried again, as the
                # app's pages and API do (a bare read() would raise psycopg's error).
                return svc.db.run(lambda s: expire_and_read(s, voucher_id), idempotent=True)
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    return expire, svc.close


# --- the checks -----------------------------------------------------------------------------


def longest_silence(tally: Tally, after: float) -> tuple[float, float]:
    """(seconds from ``after`` to the first acknowledgement following it, the longest gap
    between two acknowledgements after it): how long the service was out."""
    times = sorted(t for t in tally.ack_times if t >= after)
    if not times:
        return float("inf"), float("inf")
    gaps = [b - a for a, b in zip([after, *times], times, strict=False)]
    return times[0] - after, max(gaps)


@dataclass
class Report:
    seed: int
    seconds: float
    tally: Tally
    faults: Counter[str]
    problems: list[str]

    def lines(self) -> list[str]:
        t = self.tally
        gaps = sorted(t.gaps)
        longest = f"{gaps[-1]:.2f}" if gaps else "0"

        def counted(c: Counter[Any]) -> str:
            return f"{sum(c.values())} {dict(sorted(c.items()))}"

        return [
            f"seed {self.seed} (replay: CREDITS_FAULT_SEED={self.seed}), {self.seconds:.0f} s",
            f"operations acknowledged: {counted(t.acknowledged)}",
            f"refused as expected: {counted(t.refused)}",
            f"faults injected: {counted(self.faults)}",
            f"answers by status: {dict(sorted(t.statuses.items()))} (0 = connection lost)",
            f"requests sent again: {sum(t.resent.values())}; longest wait for a definite "
            f"answer: {longest} s",
            f"violations: {len(t.violations)}; ledger problems: {len(self.problems)}",
        ]


@dataclass(frozen=True)
class Snapshot:
    """Balances (by account id) and entry counts (by kind) before the workload."""

    balances: dict[int, int]
    entries: dict[str, int]
    shop_accounts: dict[int, int]  # shop id -> account id


def snapshot(database_url: str) -> Snapshot:
    """Read what the ledger holds now."""
    from credits.db import Database, make_engine

    db = Database(make_engine(database_url))
    try:
        with db.read() as s:
            balances = {
                int(a): int(b)
                for a, b in s.execute(
                    text(
                        "SELECT a.id, sum(b.balance) FROM account a "
                        "JOIN account_balance b ON b.account_id = a.id GROUP BY a.id"
                    )
                ).all()
            }
            entries = {
                str(k): int(n)
                for k, n in s.execute(
                    text("SELECT kind, count(*) FROM journal_entry GROUP BY kind")
                ).all()
            }
            shops = {
                int(code.split(":", 1)[1]): int(i)
                for code, i in s.execute(
                    text("SELECT code, id FROM account WHERE code LIKE 'shop:%'")
                ).all()
            }
        return Snapshot(balances, entries, shops)
    finally:
        db.engine.dispose()


def check_ledger(
    database_url: str, clients: list[Client], tally: Tally, before: Snapshot
) -> list[str]:
    """Compare the ledger with the clients' model; every difference is a problem."""
    from credits.db import Database, make_engine

    after = snapshot(database_url)
    problems: list[str] = []
    db = Database(make_engine(database_url))
    try:
        with db.read() as s:
            vouchers = {
                str(i): str(st) for i, st in s.execute(text("SELECT id, state FROM voucher"))
            }
            redemptions = {
                str(r[0]): (str(r[1]), int(r[2]), bool(r[3]))
                for r in s.execute(
                    text("SELECT voucher_id, id, amount, reversed_at IS NOT NULL FROM redemption")
                ).all()
            }
            doubled = s.execute(
                text("SELECT voucher_id FROM redemption GROUP BY voucher_id HAVING count(*) > 1")
            ).all()
    finally:
        db.engine.dispose()
    for (vid,) in doubled:
        problems.append(f"voucher {vid} has more than one redemption")

    def moved(account_id: int) -> int:
        return after.balances.get(account_id, 0) - before.balances.get(account_id, 0)

    model_vouchers: dict[str, Voucher] = {}
    shop_delta: Counter[int] = Counter()
    for c in clients:
        shop_delta.update(c.shop_delta)
        for m in c.members:
            if moved(m.account_id) != c.balance[m.person_id]:
                problems.append(
                    f"member {m.person_id}: the ledger moved {moved(m.account_id)}, "
                    f"the model {c.balance[m.person_id]}"
                )
        for v in c.vouchers:
            model_vouchers[v.id] = v
    for shop_id, account_id in after.shop_accounts.items():
        if moved(account_id) != shop_delta[shop_id]:
            problems.append(
                f"shop {shop_id}: the ledger moved {moved(account_id)}, "
                f"the model {shop_delta[shop_id]}"
            )
    for vid, state in vouchers.items():
        v = model_vouchers.get(vid)
        if v is None:
            problems.append(f"voucher {vid} ({state}) is in the ledger but was never acknowledged")
        elif v.state != state:
            problems.append(f"voucher {vid}: the ledger says {state}, the model {v.state}")
    for vid, v in model_vouchers.items():
        if vid not in vouchers:
            problems.append(f"voucher {vid} was acknowledged but is not in the ledger")
        r = redemptions.get(vid)
        if v.state == "redeemed":
            want = (v.redemption_id, v.redeemed_amount, v.reversed)
            if r != want:
                problems.append(f"voucher {vid}: redemption {r} in the ledger, {want} in the model")
        elif r is not None:
            problems.append(f"voucher {vid} ({v.state}) has a redemption {r}")
    acked = tally.acknowledged
    expect = {
        "earn": acked["earn"],
        "voucher_issue": acked["issue"],
        "redeem": acked["redeem_full"] + acked["redeem_part"],
        # A reversal posts the mirror of the redemption and returns the voucher's value.
        "cancel": acked["cancel"] + acked["reverse"],
        "expire": acked["expire"],
        "reversal": acked["reverse"],
        "adjustment": acked["adjust"],
    }
    for kind, n in expect.items():
        got = after.entries.get(kind, 0) - before.entries.get(kind, 0)
        if got != n:
            problems.append(f"{kind} entries: {got} posted, {n} acknowledged")
    return problems


def verify(env: dict[str, str]) -> tuple[int, str]:
    """``credits verify`` against the database in ``env``: (exit status, output)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "credits.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


def run(
    urls: list[str],
    scheme: Scheme,
    *,
    seed: int,
    seconds: float,
    clients: int,
    inject: dict[str, Callable[[], None]],
    expire: Callable[[str], str],
    every_s: tuple[float, float] = (0.8, 1.8),
    max_faults: int | None = None,
    say: Callable[[str], None] = print,
) -> tuple[list[Client], Tally, Counter[str], float]:
    """Run the workload for ``seconds`` while injecting faults, then let every client
    finish its operation in hand. Returns (clients, tally, faults by kind, seconds)."""
    tally = Tally()
    stop = threading.Event()
    started = time.monotonic()
    give_up_at = started + seconds + 120
    workers = [
        Client(
            i,
            seed * 1000 + i,
            urls,
            scheme,
            scheme.members[i::clients],
            tally,
            stop=stop,
            give_up_at=give_up_at,
            expire=expire,
        )
        for i in range(clients)
    ]
    for w in workers:
        w.start()
    rng = random.Random(seed)
    kinds = sorted(inject)
    first = rng.sample(kinds, len(kinds))  # every kind at least once, early
    faults: Counter[str] = Counter()
    n = 0
    while time.monotonic() - started < seconds:
        # The fault schedule: the pause between two faults is part of the seeded plan.
        stop.wait(rng.uniform(*every_s))
        if max_faults is not None and n >= max_faults:
            continue
        kind = first[n] if n < len(first) else rng.choice(kinds)
        n += 1
        t = time.monotonic() - started
        inject[kind]()
        faults[kind] += 1
        say(f"  fault {n:3d} at {t:5.1f} s: {kind}")
    stop.set()
    for w in workers:
        w.join(max(1.0, give_up_at - time.monotonic()))
    for w in workers:
        if w.is_alive():
            raise TimeoutError(f"{w.name} did not finish its last operation")
        if w.error is not None:
            raise w.error
    return workers, tally, faults, time.monotonic() - started
