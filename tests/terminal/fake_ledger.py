"""A fake ledger: a TEST DOUBLE of the ledger's terminal API, for the terminal's tests.

It follows docs/api-terminal.md exactly as written — trust list with ETag/304, redemptions
with idempotent replay and the contract's refusals (409 ``already_redeemed`` with
``shop_id``, ``shop_name`` and ``redeemed_at``), offline claims on vouchers that went
elsewhere meanwhile judged by the bounding rule of docs/redemption.md (``exception`` 201,
``held`` 202 when ``hold_exceptions`` is set, or a 409 with ``claim.rule``: same shop, one
paying claim per voucher, the terminal's spent list F, told online), the spent list
(``GET /terminal/spent-vouchers``: full, incremental, pages of ``spent_page``, ETag/304; F
recorded per terminal in ``spent_list_at``), ``GET /terminal``, the redemption look-ups and
the journal upload — and keeps a tiny set of balances so a test can check where credits
went. It is NOT the ledger: no database, no double entry, no
persistence. The real server replaces it in the lead's end-to-end tests without any change
to the terminal.

Failure switches for the tests:

- :meth:`stop` / :meth:`start`: nothing listens on the port (connection refused), then the
  same port answers again;
- ``delay_after_commit_s``: commit a redemption, then wait before answering (a client with
  a shorter read timeout gives up: the outcome is unknown to it);
- ``drop_after_commit``: commit the next N redemptions, then close the connection without
  answering (the timeout-after-commit case);
- ``hang_up``: close every redemption request's connection without processing it (a hung
  application behind a proxy); ``received`` keeps every redemption body that arrived.

Replays of a committed key are always answered at once: they are what a careful client
sends after it lost an answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.terminal.voucher_signer import ReadCode, SigningKey, read_code, sign_code, trust_list

REFUSAL_STATUS = {
    "malformed_code": 422,
    "invalid_signature": 422,
    "unknown_key": 422,
    "amount_exceeds_voucher": 422,
    "validation_error": 422,
    "offline_limit_exceeded": 422,
    "expired": 409,
    "voucher_cancelled": 409,
    "already_redeemed": 409,
    "idempotency_conflict": 409,
}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Problem(Exception):
    def __init__(self, code: str, detail: str, status: int | None = None, **extra: Any):
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra
        self.status = status or REFUSAL_STATUS.get(code, 400)


@dataclass
class FakeVoucher:
    voucher_id: str
    face_value: int
    expires_at: int
    member: str
    state: str = "open"  # open | redeemed | cancelled
    redemption: dict[str, Any] | None = None
    closed_at: float | None = None


@dataclass
class FakeTerminal:
    id: int
    name: str
    shop_id: int
    token: str


@dataclass
class FakeLedger:
    """The fake's state; ``serve()`` puts it on a port (see the module docstring)."""

    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    shops: dict[int, str] = field(
        default_factory=lambda: {1: "Brixton Bakery", 2: "Herne Hill Hardware"}
    )
    offline: dict[str, int] = field(
        default_factory=lambda: {"floor_limit": 20, "max_count": 3, "max_total": 50}
    )
    terminals: dict[str, FakeTerminal] = field(default_factory=dict)
    vouchers: dict[str, FakeVoucher] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    redemptions: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    journal: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[tuple[int, str], tuple[str, int, dict[str, Any]]] = field(
        default_factory=dict
    )
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    #: Vouchers as they closed: (voucher id, expires_at, "redeemed" | "cancelled").
    closings: list[tuple[str, int, str]] = field(default_factory=list)
    #: F per terminal id: the as_of of the last spent list it was given.
    spent_list_at: dict[int, float] = field(default_factory=dict)
    spent_page: int = 10_000
    #: Vouchers with an offline claim that pays (one each at most).
    claimed: set[str] = field(default_factory=set)
    #: (shop id, voucher id) the ledger refused online as closed.
    told: set[tuple[int, str]] = field(default_factory=set)
    #: Answer offline claims that pass the rule 202 "held" instead of paying them.
    hold_exceptions: bool = False
    delay_after_commit_s: float = 0.0
    drop_after_commit: int = 0
    hang_up: bool = False
    #: Answer every request 503 ``unavailable`` (the ledger's database is down).
    unavailable: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    clock: Any = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _sockets: set[socket.socket] = field(default_factory=set)
    port: int = 0

    # --- set-up -------------------------------------------------------------------------

    def add_terminal(self, shop_id: int, name: str = "Till 1") -> FakeTerminal:
        with self.lock:
            term = FakeTerminal(len(self.terminals) + 1, name, shop_id, f"cc_{uuid.uuid4().hex}")
            self.terminals[term.token] = term
            return term

    def issue(
        self,
        face_value: int,
        *,
        expires_in_s: int = 3600,
        member: str = "alice",
        key: SigningKey | None = None,
        expires_at: int | None = None,
    ) -> str:
        """Issue a voucher as the ledger would: sign it, hold its value as outstanding."""
        key = key or self.keys[0]
        voucher_id = uuid.uuid4().bytes
        expires = expires_at if expires_at is not None else int(self.clock()) + expires_in_s
        code = sign_code(key, face_value=face_value, expires_at=expires, voucher_id=voucher_id)
        with self.lock:
            self.vouchers[voucher_id.hex()] = FakeVoucher(
                voucher_id.hex(), face_value, expires, member
            )
            self.balances[f"member:{member}"] -= face_value
            self.balances["vouchers_outstanding"] += face_value
        return code

    def cancel(self, voucher_id: str) -> None:
        with self.lock:
            v = self.vouchers[voucher_id]
            assert v.state == "open"
            v.state = "cancelled"
            v.closed_at = self.clock()
            self.closings.append((voucher_id, v.expires_at, "cancelled"))
            self.balances["vouchers_outstanding"] -= v.face_value
            self.balances[f"member:{v.member}"] += v.face_value

    def trust_list_json(self) -> bytes:
        return json.dumps(trust_list(*self.keys), sort_keys=True).encode()

    def count(self, method: str, path: str, status: int | None = None) -> int:
        with self.lock:
            return sum(
                1
                for m, p, s in self.requests
                if m == method and p == path and (status is None or s == status)
            )

    # --- the server ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (again) on ``self.port`` (a free one the first time)."""
        ledger = self

        class Handler(_Handler):
            fake = ledger

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and cut every open connection: the ledger is unreachable."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._sockets.clear()
        self._server = None

    # --- the API ------------------------------------------------------------------------

    def terminal_for(self, auth: str | None) -> FakeTerminal:
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        term = self.terminals.get(token or "")
        if term is None:
            raise Problem("unauthorized", "a valid terminal token is needed", 401)
        return term

    def redeem(self, term: FakeTerminal, body: Any) -> tuple[int, dict[str, Any], bool]:
        """Redeem as docs/api-terminal.md says; return (status, body, replayed)."""
        if not isinstance(body, dict):
            raise Problem("validation_error", "a JSON object is expected")
        code, key = body.get("code"), body.get("idempotency_key")
        amount, offline_at = body.get("amount"), body.get("offline_accepted_at")
        if not isinstance(code, str):
            raise Problem("validation_error", "code is required")
        if not (
            isinstance(key, str) and 1 <= len(key) <= 200 and key.isprintable() and key.isascii()
        ):
            raise Problem("validation_error", "idempotency_key: 1-200 printable ASCII")
        if amount is not None and (type(amount) is not int or amount < 1):
            raise Problem("validation_error", "amount must be a positive integer")
        if offline_at is not None:
            try:
                offline_t = parse_iso(offline_at)
            except (TypeError, ValueError):
                raise Problem("validation_error", "offline_accepted_at: ISO 8601") from None
            if offline_t > self.clock() + 300:
                raise Problem("validation_error", "offline_accepted_at is in the future")
        fingerprint = json.dumps(body, sort_keys=True)
        with self.lock:
            replay = self.idempotency.get((term.id, key))
            if replay is not None:
                if replay[0] != fingerprint:
                    raise Problem("idempotency_conflict", "this key was used with another body")
                return replay[1], replay[2], True
            # Expiry is judged when the shop accepted the voucher (docs/api-terminal.md).
            when = offline_t if offline_at is not None else self.clock()
            read = read_code(code, {k.kid: k for k in self.keys}, when)
            if not isinstance(read, ReadCode):
                raise Problem(read, f"the code was refused: {read}")
            voucher = self.vouchers.get(read.voucher_id)
            if voucher is None:
                raise Problem("not_found", "no such voucher", 404)
            take = voucher.face_value if amount is None else amount
            if take > voucher.face_value:
                raise Problem("amount_exceeds_voucher", f"the voucher is for {voucher.face_value}")
            if offline_at is not None and take > self.offline["floor_limit"]:
                raise Problem("offline_limit_exceeded", "above this terminal's floor limit")
            now = iso(self.clock())
            if voucher.state != "open":
                if offline_at is None:
                    self.told.add((term.shop_id, voucher.voucher_id))
                    if voucher.state == "cancelled":
                        raise Problem("voucher_cancelled", "the member cancelled this voucher")
                    first = voucher.redemption or {}
                    raise Problem(
                        "already_redeemed",
                        "this voucher was already redeemed",
                        shop_id=first.get("shop_id"),
                        shop_name=self.shops.get(first.get("shop_id", 0)),
                        redeemed_at=first.get("redeemed_at"),
                    )
                reason = "voucher_cancelled" if voucher.state == "cancelled" else "already_redeemed"
                rule = self._claim_rule(term, voucher, offline_t)
                if rule is not None:
                    first = voucher.redemption or {}
                    refusal = {
                        "type": "about:blank",
                        "title": reason.replace("_", " "),
                        "status": 409,
                        "detail": f"this voucher was {reason.replace('_', ' ')}; {rule}",
                        "code": reason,
                        "claim": {"id": f"ex-{len(self.exceptions) + 1}", "rule": rule},
                        **(
                            {
                                "shop_id": first.get("shop_id"),
                                "shop_name": self.shops.get(first.get("shop_id", 0)),
                                "redeemed_at": first.get("redeemed_at"),
                            }
                            if voucher.state == "redeemed"
                            else {}
                        ),
                    }
                    self.idempotency[(term.id, key)] = (fingerprint, 409, refusal)
                    return 409, refusal, False
                held = self.hold_exceptions
                exception = {
                    "id": f"ex-{len(self.exceptions) + 1}",
                    "reason": reason,
                    "detail": f"accepted offline at {offline_at}; voucher {reason}",
                }
                self.claimed.add(voucher.voucher_id)
                self.exceptions.append(
                    {
                        **exception,
                        "voucher_id": voucher.voucher_id,
                        "shop_id": term.shop_id,
                        "amount": take,
                        "status": "held" if held else "paid",
                    }
                )
                if not held:
                    self.balances["adjustments"] -= take
                    self.balances[f"shop:{term.shop_id}"] += take
                result = {
                    "id": exception["id"],
                    "voucher_id": voucher.voucher_id,
                    "amount": take,
                    "change": 0,
                    "shop_id": term.shop_id,
                    "redeemed_at": now,
                    "status": "held" if held else "exception",
                    "exception": exception,
                }
                status = 202 if held else 201
            else:
                voucher.state = "redeemed"
                voucher.closed_at = self.clock()
                self.closings.append((voucher.voucher_id, voucher.expires_at, "redeemed"))
                change = voucher.face_value - take
                self.balances["vouchers_outstanding"] -= voucher.face_value
                self.balances[f"shop:{term.shop_id}"] += take
                self.balances[f"member:{voucher.member}"] += change
                result = {
                    "id": f"r-{len(self.redemptions) + 1}",
                    "voucher_id": voucher.voucher_id,
                    "amount": take,
                    "change": change,
                    "shop_id": term.shop_id,
                    "redeemed_at": now,
                    "status": "redeemed",
                }
                voucher.redemption = result
                status = 201
            self.redemptions.append(
                {**result, "terminal_id": term.id, "offline": offline_at is not None}
            )
            self.idempotency[(term.id, key)] = (fingerprint, status, result)
            return status, result, False

    def _claim_rule(self, term: FakeTerminal, voucher: FakeVoucher, accepted: float) -> str | None:
        """The bounding rule's refusals (docs/redemption.md), or None: pay (or hold)."""
        first = voucher.redemption or {}
        if first.get("shop_id") == term.shop_id:
            return "same_shop"
        if voucher.voucher_id in self.claimed:
            return "already_claimed"
        listed_at = self.spent_list_at.get(term.id)
        assert voucher.closed_at is not None
        if listed_at is not None and voucher.closed_at < listed_at:
            return "on_spent_list"
        if listed_at is None or listed_at < accepted - 86400:
            return "no_fresh_list"
        if (term.shop_id, voucher.voucher_id) in self.told:
            return "told_online"
        return None

    def spent_list(self, term: FakeTerminal, since: str | None) -> dict[str, Any]:
        """The spent list: a cursor is an index into ``closings`` (``N.c``: a continuation
        page, which does not record F)."""
        with self.lock:
            if since is None or "." not in since:
                self.spent_list_at[term.id] = self.clock() - 120
            try:
                start = int((since or "0").split(".")[0])
            except ValueError:
                raise Problem("validation_error", "since: not a cursor") from None
            page = self.closings[start : start + self.spent_page]
            end = start + len(page)
            more = end < len(self.closings)
            now = self.clock()
            live = [c for c in page if c[1] > now]
            return {
                "as_of": iso(now - 120),
                "cursor": f"{end}.c" if more else str(end),
                "more": more,
                "full": since is None,
                "redeemed": [[v, exp] for v, exp, state in live if state == "redeemed"],
                "cancelled": [[v, exp] for v, exp, state in live if state == "cancelled"],
            }

    def list_redemptions(self, term: FakeTerminal, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            limit = int(query.get("limit", ["50"])[0])
            since = parse_iso(query["since"][0]) if "since" in query else None
        except (ValueError, KeyError):
            raise Problem("validation_error", "since: ISO time; limit: 1-200") from None
        if not 1 <= limit <= 200:
            raise Problem("validation_error", "limit: 1-200")
        with self.lock:
            mine = [
                r
                for r in self.redemptions
                if r["shop_id"] == term.shop_id
                and (since is None or parse_iso(r["redeemed_at"]) >= since)
            ]
        return {"redemptions": list(reversed(mine))[:limit]}

    def upload_journal(self, body: Any) -> dict[str, Any]:
        entries = body.get("entries") if isinstance(body, dict) else None
        if not isinstance(entries, list) or len(entries) > 500:
            raise Problem("validation_error", "entries: a list of at most 500")
        allowed = {"redeemed", "exception", "refused", "queued"}
        for e in entries:
            if not (
                isinstance(e, dict)
                and isinstance(e.get("scan_id"), str)
                and e.get("outcome") in allowed
                and type(e.get("amount")) is int
                and isinstance(e.get("at"), str)
            ):
                raise Problem("validation_error", f"bad journal entry: {e!r}")
        with self.lock:
            for e in entries:
                self.journal[e["scan_id"]] = e  # the latest report for a scan replaces
        return {"accepted": len(entries)}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLedger
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK wait

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def setup(self) -> None:
        super().setup()
        with self.fake.lock:
            self.fake._sockets.add(self.connection)

    def finish(self) -> None:
        with self.fake.lock:
            self.fake._sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _send(self, status: int, body: dict[str, Any] | bytes | None, **headers: str) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
        # Recorded before the answer goes out: a client that has its answer must find its
        # request counted (counting after the write raced with the test's next line).
        with self.fake.lock:
            self.fake.requests.append((self.command, urlsplit(self.path).path, status))
        self.send_response(status)
        ctype = "application/problem+json" if status >= 400 else "application/json"
        if data:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(data)

    def _problem(self, p: Problem) -> None:
        headers = {"Retry_After": "2"} if p.status == 503 else {}
        self._send(
            p.status,
            {
                "type": "about:blank",
                "title": p.code.replace("_", " "),
                "status": p.status,
                "detail": p.detail,
                "code": p.code,
                **p.extra,
            },
            **headers,
        )

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise Problem("validation_error", "the body is not JSON") from None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        try:
            if self.fake.unavailable:
                raise Problem(
                    "unavailable", "the database cannot be reached", 503, outcome="not_done"
                )
            if url.path == "/api/v1/trust-list":
                data = self.fake.trust_list_json()
                etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, None, ETag=etag)
                else:
                    self._send(200, data, ETag=etag, Cache_Control="no-cache")
                return
            term = self.fake.terminal_for(self.headers.get("Authorization"))
            if url.path == "/api/v1/terminal":
                self._send(
                    200,
                    {
                        "id": term.id,
                        "name": term.name,
                        "shop": {"id": term.shop_id, "name": self.fake.shops[term.shop_id]},
                        "offline": dict(self.fake.offline),
                    },
                )
            elif url.path == "/api/v1/redemptions":
                self._send(200, self.fake.list_redemptions(term, parse_qs(url.query)))
            elif url.path == "/api/v1/terminal/spent-vouchers":
                since = parse_qs(url.query).get("since", [None])[0]
                body = self.fake.spent_list(term, since)
                etag = (
                    '"'
                    + hashlib.sha256(
                        json.dumps(
                            [body["cursor"], body["more"], body["redeemed"], body["cancelled"]]
                        ).encode()
                    ).hexdigest()[:20]
                    + '"'
                )
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, None, ETag=etag)
                else:
                    self._send(200, body, ETag=etag)
            elif url.path.startswith("/api/v1/redemptions/"):
                rid = url.path.rsplit("/", 1)[1]
                found = [
                    r
                    for r in self.fake.redemptions
                    if r["id"] == rid and r["shop_id"] == term.shop_id
                ]
                if not found:
                    raise Problem("not_found", "no such redemption", 404)
                self._send(200, found[0])
            else:
                raise Problem("not_found", "no such path", 404)
        except Problem as p:
            self._problem(p)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            body = self._body()
            if self.fake.unavailable:
                raise Problem(
                    "unavailable", "the database cannot be reached", 503, outcome="not_done"
                )
            term = self.fake.terminal_for(self.headers.get("Authorization"))
            if url.path == "/api/v1/redemptions":
                with self.fake.lock:
                    self.fake.received.append(body if isinstance(body, dict) else {})
                if self.fake.hang_up:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, result, replayed = self.fake.redeem(term, body)
                if not replayed and self.fake.drop_after_commit > 0:
                    with self.fake.lock:
                        self.fake.drop_after_commit -= 1
                    # Committed, then the connection dies before the answer is sent
                    # (counted first, as in _send).
                    with self.fake.lock:
                        self.fake.requests.append(("POST", url.path, -1))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if not replayed and self.fake.delay_after_commit_s:
                    time.sleep(self.fake.delay_after_commit_s)
                self._send(status, result)
            elif url.path == "/api/v1/terminal/journal":
                self._send(200, self.fake.upload_journal(body))
            else:
                raise Problem("not_found", "no such path", 404)
        except Problem as p:
            self._problem(p)
        except OSError:
            self.close_connection = True
