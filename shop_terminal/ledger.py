"""The terminal's HTTP client for the ledger (docs/api-terminal.md), over httpx.

Why httpx: a well-kept client with one explicit ``Timeout(connect=, read=, write=, pool=)``,
connection pooling (keep-alive makes a redemption one round trip on a warm connection) and
exception classes that tell *where* a request failed — which is what the terminal needs:

- :class:`LedgerUnreachable` — the connection was never made (refused, DNS, connect timeout,
  pool timeout): the ledger cannot have seen the request.
- :class:`LedgerNoAnswer` — the request may have reached the ledger but no usable answer came
  back (read/write timeout, connection dropped, a 5xx from the ledger or a proxy, a body that
  is not JSON). For a redemption this means *the outcome is unknown*: the caller must resend
  the same body with the same idempotency key, never a new one.
  :class:`LedgerUnavailable` (a kind of no answer) — the ledger said 503: its database is
  out of reach for now (or a proxy has no ledger to send to). Nothing to wait for at the
  counter: the terminal decides offline at once, and sync resends with the same key.
- :class:`LedgerRefused` — the ledger answered with a problem (``code``, ``status``, body).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from shop_terminal import __version__

USER_AGENT = f"shop-terminal/{__version__}"


class LedgerUnreachable(Exception):
    """The connection to the ledger could not be made; the request was not sent."""


class LedgerNoAnswer(Exception):
    """The request may have reached the ledger, but no usable answer came back."""


class LedgerUnavailable(LedgerNoAnswer):
    """The ledger answered 503 (``unavailable``): it cannot serve now; work offline.

    ``not_done``: the ledger said the request was certainly not carried out (its problem
    body's ``outcome`` is ``not_done``), so it may be treated as never sent. Otherwise (a
    commit whose answer the ledger lost, or a 503 from a proxy) the outcome is unknown."""

    def __init__(
        self, detail: str, retry_after_s: float | None = None, *, not_done: bool = False
    ) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.not_done = not_done


@dataclass
class LedgerRefused(Exception):
    """The ledger answered with an error (``application/problem+json``)."""

    status: int
    code: str
    problem: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.problem.get('detail', '')}"


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the ledger sends whole seconds; a date is ignored)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustListAnswer:
    """``GET /trust-list``: ``text`` and ``etag``, or ``not_modified``."""

    not_modified: bool
    text: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class SpentAnswer:
    """``GET /terminal/spent-vouchers``: one page, or ``not_modified``."""

    not_modified: bool
    redeemed: list[tuple[str, int]] = field(default_factory=list)
    cancelled: list[tuple[str, int]] = field(default_factory=list)
    cursor: str | None = None
    more: bool = False
    etag: str | None = None


def _pairs(value: Any) -> list[tuple[str, int]]:
    """[[voucher id (32 hex), expiry (epoch seconds)], ...], checked."""
    if not isinstance(value, list):
        raise LedgerNoAnswer("a spent list that is not a list")
    pairs = []
    for item in value:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and len(item[0]) == 32
            and all(c in "0123456789abcdef" for c in item[0])
            and type(item[1]) is int
        ):
            raise LedgerNoAnswer(f"a spent-list entry that is not [id, expiry]: {item!r:.80}")
        pairs.append((item[0], item[1]))
    return pairs


class LedgerClient:
    """One pooled HTTP client for one ledger and terminal token. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        connect_timeout_s: float = 1.5,
        read_timeout_s: float = 4.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        timeout = httpx.Timeout(
            connect=connect_timeout_s,
            read=read_timeout_s,
            write=read_timeout_s,
            pool=connect_timeout_s,
        )
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )
        self._auth = {"Authorization": f"Bearer {token}"}

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise LedgerUnreachable(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            # Read/write timeouts, a dropped connection, a protocol error: sent, maybe seen.
            raise LedgerNoAnswer(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 503:
            try:
                outcome = response.json().get("outcome")
            except (ValueError, AttributeError):
                outcome = None
            raise LedgerUnavailable(
                "the ledger answered 503: it cannot serve right now",
                _retry_after(response.headers.get("Retry-After")),
                not_done=outcome == "not_done",
            )
        if response.status_code >= 500:
            raise LedgerNoAnswer(f"the ledger answered {response.status_code}")
        return response

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise LedgerNoAnswer(f"a {response.status_code} answer that is not JSON") from None
        if not isinstance(data, dict):
            raise LedgerNoAnswer(f"a {response.status_code} answer that is not an object")
        return data

    def _checked(self, response: httpx.Response, *ok: int) -> dict[str, Any]:
        data = self._json(response)
        if response.status_code not in ok:
            code = data.get("code")
            raise LedgerRefused(
                response.status_code, code if isinstance(code, str) else "unknown", data
            )
        return data

    def trust_list(self, etag: str | None) -> TrustListAnswer:
        """``GET /trust-list`` with ``If-None-Match`` when an ETag is known."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._request("GET", "/trust-list", headers=headers)
        if response.status_code == 304:
            return TrustListAnswer(not_modified=True, etag=etag)
        self._checked(response, 200)
        return TrustListAnswer(False, response.text, response.headers.get("ETag"))

    def terminal(self) -> dict[str, Any]:
        """``GET /terminal``: who this terminal is and its offline limits."""
        return self._checked(self._request("GET", "/terminal", headers=self._auth), 200)

    def redeem(self, body: str) -> dict[str, Any]:
        """``POST /redemptions`` with ``body`` exactly as given (the stored JSON text), so a
        retry is byte-identical and the ledger replays its first answer. Returns the 201 body
        (or 202: an offline claim held for a council officer, ``status`` ``held``); raises
        LedgerRefused, LedgerUnreachable or LedgerNoAnswer."""
        response = self._request(
            "POST",
            "/redemptions",
            content=body.encode(),
            headers={**self._auth, "Content-Type": "application/json"},
        )
        return self._checked(response, 201, 202)

    def spent_vouchers(self, since: str | None, etag: str | None) -> SpentAnswer:
        """``GET /terminal/spent-vouchers`` (the full list without ``since``), with
        ``If-None-Match`` when an ETag is known."""
        headers = {**self._auth, **({"If-None-Match": etag} if etag else {})}
        params = {"since": since} if since else None
        response = self._request("GET", "/terminal/spent-vouchers", headers=headers, params=params)
        if response.status_code == 304:
            return SpentAnswer(not_modified=True, etag=etag)
        data = self._checked(response, 200)
        cursor, more = data.get("cursor"), data.get("more")
        if not isinstance(cursor, str) or not isinstance(more, bool):
            raise LedgerNoAnswer("a spent list without its cursor")
        return SpentAnswer(
            not_modified=False,
            redeemed=_pairs(data.get("redeemed", [])),
            cancelled=_pairs(data.get("cancelled", [])),
            cursor=cursor,
            more=more,
            etag=response.headers.get("ETag"),
        )

    def upload_journal(self, entries: list[dict[str, Any]]) -> int:
        """``POST /terminal/journal`` (at most 500 entries); returns ``accepted``."""
        assert len(entries) <= 500
        response = self._request(
            "POST",
            "/terminal/journal",
            content=json.dumps({"entries": entries}).encode(),
            headers={**self._auth, "Content-Type": "application/json"},
        )
        accepted = self._checked(response, 200).get("accepted")
        if not isinstance(accepted, int):
            raise LedgerNoAnswer("the journal upload's answer has no count")
        return accepted
