"""The terminal's use cases: scan (verify, then redeem online or accept offline), sync,
refresh, and the day's figures. The counter screen and the command line are thin layers on
this module.

The redemption state machine (see store.py for the states):

1. **Verify locally** with the cached trust list (docs/voucher-format.md). A code that fails
   is refused here and never sent; an ``unknown_key`` first refreshes the trust list once (a
   new key may have been published).
2. **Check this terminal's journal**: a voucher already redeemed, queued or in flight here is
   refused ("already used here at 10:31"). An earlier scan of it whose answer was lost is
   resolved first, by resending its stored request.
3. **Online**: the scan and its request (code, amount, a fresh idempotency key) are written in
   one transaction, *then* sent. A lost answer (dropped connection, 5xx) is retried at once
   with the same stored body, so the ledger replays its first answer; a read timeout is not
   retried in front of the customer (the sync resolves it).
4. **Offline**, when the ledger cannot be reached or did not answer: a voucher on the
   ledger's spent list is *refused* (it is used); otherwise, if the spent list is fresh (its
   last fetch began less than 23 hours ago and none is under way) and no acceptance has
   waited more than 24 hours (EMV's consecutive-offline limits), within the floor limit and
   the caps on what is held unsynced, the scan is *queued* with a second, offline submission
   (``offline_accepted_at``), written in the same transaction as those checks; otherwise it
   is *declined* ("can't accept now", or "go online first").
5. **Sync** first resends every online request whose answer is unknown (the ledger replays:
   if it had gone through, the scan is redeemed and its offline submission is retired, never
   sent); then sends the queued offline submissions; then — only once none is left queued —
   fetches what was spent since its last spent list; then uploads the journal.

The ledger pays a voucher accepted offline that turned out spent elsewhere only when this
terminal could not have known (docs/redemption.md): its spent list, fetched after it sent
its queue and at least daily, is how it keeps that promise.

So every voucher is redeemed at most once: the only two requests that can redeem a scan are
its online one and its offline one, and the offline one is sent only after the online one is
known not to have gone through (answered with a refusal, or never sent at all).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shop_terminal import messages
from shop_terminal.config import Config
from shop_terminal.i18n import ENGLISH, Words
from shop_terminal.ledger import (
    LedgerClient,
    LedgerNoAnswer,
    LedgerRefused,
    LedgerUnavailable,
    LedgerUnreachable,
)
from shop_terminal.store import (
    CapExceeded,
    OnSpentList,
    Scan,
    Store,
    Submission,
    iso,
    parse_time,
    utc_now,
)
from shop_terminal.voucher import TrustList, Voucher, VoucherRefused, read_unverified, verify

# Exit codes of `shop-terminal redeem` / `scan-image` (docs/shop-terminal.md).
EXIT_REDEEMED = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_QUEUED = 3
EXIT_CANT_ACCEPT_NOW = 4

STATE_EXIT = {
    "redeemed": EXIT_REDEEMED,
    "exception": EXIT_REDEEMED,
    "held": EXIT_REDEEMED,
    "refused": EXIT_REFUSED,
    "queued": EXIT_QUEUED,
    "declined": EXIT_CANT_ACCEPT_NOW,
    "pending": EXIT_CANT_ACCEPT_NOW,
}

JOURNAL_BATCH = 500  # the ledger's limit per upload (docs/api-terminal.md)
#: Offline, the spent list must be younger than this (the ledger allows 24 h from its own
#: record of the fetch; an hour's margin covers the two clocks).
SPENT_LIST_MAX_AGE_S = 23 * 3600
#: Offline, no acceptance may have waited longer than this to be sent.
QUEUE_MAX_AGE_S = 24 * 3600
#: A bound on one fetch of the spent list (pages of 10,000 vouchers).
MAX_SPENT_PAGES = 1000
#: The scan's ``detail`` when the spent list refused it.
SPENT_LIST_DETAIL = messages.SPENT_LIST_DETAIL
MAX_CODE_INPUT = 1000  # longer input is not a voucher; do not store megabytes of it


@dataclass(frozen=True)
class Outcome:
    """What one scan came to: the journal row, its plain-words message and its exit code."""

    scan: Scan
    message: messages.Message

    @property
    def exit_code(self) -> int:
        """The command line's exit code for this outcome."""
        return STATE_EXIT[self.scan.state]

    @property
    def ok(self) -> bool:
        """True when the shopkeeper may hand over the goods."""
        return self.scan.state in ("redeemed", "exception", "held", "queued")

    def as_json(self) -> dict[str, Any]:
        """A machine-readable summary (``--json``)."""
        s = self.scan
        return {
            "scan_id": s.id,
            "outcome": {
                "redeemed": "redeemed",
                "exception": "redeemed",
                "held": "redeemed",
                "queued": "queued",
                "refused": "refused",
                "declined": "cant_accept_now",
                "pending": "cant_accept_now",
            }[s.state],
            "state": s.state,
            "reason": s.reason,
            "message": self.message.title,
            "details": list(self.message.lines),
            "voucher_id": s.voucher_id,
            "reference": s.reference,
            "face_value": s.face_value,
            "expires_at": (
                datetime.fromtimestamp(s.expires_at, UTC).isoformat() if s.expires_at else None
            ),
            "amount": s.redeemed_amount if s.redeemed_amount is not None else s.amount,
            "change": s.change,
            "redemption_id": s.redemption_id,
            "offline_accepted_at": iso(s.offline_accepted_at) if s.offline_accepted_at else None,
        }


@dataclass
class SyncReport:
    """What a sync did."""

    reachable: bool = True
    resolved: int = 0  # online requests whose lost answer was recovered
    sent: int = 0  # offline submissions sent
    redeemed: list[Scan] = field(default_factory=list)
    exceptions: list[Scan] = field(default_factory=list)
    held: list[Scan] = field(default_factory=list)
    refused: list[Scan] = field(default_factory=list)
    unanswered: int = 0
    journal_uploaded: int = 0
    #: The spent list: "fetched", "not modified", "waiting" (acceptances still queued),
    #: "failed" — or None when not tried.
    spent_list: str | None = None
    still_queued: int = 0
    still_unresolved: int = 0
    problem: str | None = None


@dataclass(frozen=True)
class Totals:
    """Count and credits of the vouchers taken in a period (redeemed, exceptions, queued)."""

    count: int
    credits: int
    offline_count: int
    offline_credits: int


class Terminal:
    """The shop terminal: one per data folder. Thread-safe (the store opens a connection
    per step; the HTTP client is pooled and thread-safe; sync is serialised)."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        client: LedgerClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store or Store(config.store_path)
        self.client = client or LedgerClient(
            config.ledger_url,
            config.terminal_token,
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
        )
        self.clock = clock
        self._sync_lock = threading.Lock()
        self._trust_cache: tuple[str, TrustList] | None = None
        self._ok_written_at: float | None = None

    def close(self) -> None:
        """Release the HTTP connections and the store's database connections."""
        self.client.close()
        self.store.close()

    # --- cached state from the ledger ---------------------------------------------------------

    def trust_list(self) -> TrustList | None:
        """The cached trust list (parsed once per version), or None if never fetched."""
        text = self.store.get_meta("trust_list")
        if text is None:
            return None
        cached = self._trust_cache
        if cached is None or cached[0] != text:
            cached = (text, TrustList.from_text(text))
            self._trust_cache = cached
        return cached[1]

    def info(self) -> dict[str, Any] | None:
        """The cached ``GET /terminal`` answer (name, shop, offline limits), or None."""
        text = self.store.get_meta("terminal")
        return None if text is None else json.loads(text)

    def offline_limits(self) -> dict[str, int] | None:
        """The cached offline limits, or None if this terminal never reached the ledger."""
        info = self.info()
        limits = (info or {}).get("offline")
        if not isinstance(limits, dict):
            return None
        try:
            return {k: int(limits[k]) for k in ("floor_limit", "max_count", "max_total")}
        except (KeyError, TypeError, ValueError):
            return None

    def online(self) -> bool:
        """True unless the last contact with the ledger failed."""
        m = self.store.get_meta_many("last_contact_ok_at", "last_contact_failed_at")
        failed = m["last_contact_failed_at"]
        return failed is None or (m["last_contact_ok_at"] or "") > failed

    def _may_contact(self) -> bool:
        """Whether a scan should try the network now (see Config.offline_recheck_s)."""
        failed = self.store.get_meta("last_contact_failed_at")
        if failed is None or self.online():
            return True
        since = (utc_now() - parse_time(failed)).total_seconds()  # type: ignore[operator]
        return since >= self.config.offline_recheck_s

    def _contact_ok(self) -> None:
        # Written when the state changes, else at most every 30 s: a write costs an fsync,
        # and a busy counter answers a customer after every one.
        now = time.monotonic()
        if self._ok_written_at is not None and now - self._ok_written_at < 30 and self.online():
            return
        self.store.set_meta(last_contact_ok_at=iso(utc_now()), last_failure=None)
        self._ok_written_at = now

    def _contact_failed(self, why: str) -> None:
        self._ok_written_at = None
        self.store.set_meta(last_contact_failed_at=iso(utc_now()), last_failure=why[:500])

    # --- refresh ------------------------------------------------------------------------------

    def refresh_trust_list(self) -> bool:
        """Revalidate the trust list (``If-None-Match``); True if the ledger answered.
        On any failure the cached list stays in use."""
        etag = self.store.get_meta("trust_list_etag")
        if self.store.get_meta("trust_list") is None:
            etag = None  # nothing cached: ask for the full list
        try:
            answer = self.client.trust_list(etag)
        except (LedgerUnreachable, LedgerNoAnswer) as exc:
            self._contact_failed(str(exc))
            return False
        except LedgerRefused as exc:
            self.store.set_meta(last_failure=f"trust list: {exc}")
            return False
        now = iso(utc_now())
        if answer.not_modified:
            self.store.set_meta(trust_list_checked_at=now, last_contact_ok_at=now)
        else:
            assert answer.text is not None
            TrustList.from_text(answer.text)  # refuse to cache what cannot be parsed
            self.store.set_meta(
                trust_list=answer.text,
                trust_list_etag=answer.etag,
                trust_list_checked_at=now,
                trust_list_fetched_at=now,
                last_contact_ok_at=now,
            )
        return True

    def refresh_info(self) -> dict[str, Any]:
        """``GET /terminal`` (also tells the ledger the terminal is alive); caches the answer.
        Raises LedgerUnreachable / LedgerNoAnswer / LedgerRefused."""
        try:
            info = self.client.terminal()
        except (LedgerUnreachable, LedgerNoAnswer) as exc:
            self._contact_failed(str(exc))
            raise
        now = iso(utc_now())
        self.store.set_meta(
            terminal=json.dumps(info),
            terminal_checked_at=now,
            last_contact_ok_at=now,
            last_failure=None,
        )
        return info

    def refresh(self) -> bool:
        """Refresh the terminal's settings, the trust list and the spent list; True if the
        ledger answered."""
        try:
            self.refresh_info()
        except (LedgerUnreachable, LedgerNoAnswer):
            return False
        except LedgerRefused as exc:
            self.store.set_meta(last_failure=f"terminal: {exc}")
            return False
        if not self.refresh_trust_list():
            return False
        self.refresh_spent_list()
        return True

    def refresh_spent_list(self) -> str:
        """Fetch what was spent since the last spent list (all of it the first time), page
        by page; return "fetched", "not modified", "waiting" or "failed".

        Never while an acceptance is queued ("waiting"): the ledger records when it answers,
        and judges a claim on a voucher spent before that record as one this terminal could
        have refused. From the first request until the last page is stored, nothing is
        accepted offline; if the fetch is cut short after the ledger may have answered, that
        stays so until a fetch completes.
        """
        if not self.store.begin_spent_list_fetch():
            return "waiting"
        cursor, etag = self.store.spent_list_position()
        since, tag = cursor, etag
        for page in range(MAX_SPENT_PAGES):
            try:
                answer = self.client.spent_vouchers(since, tag)
            except LedgerUnreachable as exc:
                self._contact_failed(str(exc))
                if page == 0:
                    self.store.abandon_spent_list_fetch()  # the ledger never saw it
                return "failed"
            except LedgerNoAnswer as exc:
                self._contact_failed(str(exc))
                return "failed"
            except LedgerRefused as exc:
                self.store.set_meta(last_failure=f"spent list: {exc}")
                if page == 0:
                    self.store.abandon_spent_list_fetch(
                        forget_cursor=exc.code == "validation_error"
                    )
                return "failed"
            if answer.not_modified:
                self.store.finish_spent_list_fetch(cursor=cursor, etag=etag)
                return "not modified"
            self.store.add_spent(answer.redeemed, answer.cancelled)
            if not answer.more:
                self.store.finish_spent_list_fetch(cursor=answer.cursor, etag=answer.etag)
                return "fetched"
            since, tag = answer.cursor, None
        self.store.set_meta(last_failure=f"spent list: more than {MAX_SPENT_PAGES} pages")
        return "failed"

    # --- scan ---------------------------------------------------------------------------------

    def outcome(self, scan: Scan, words: Words = ENGLISH) -> Outcome:
        """The message for a stored scan (for showing it again), in ``words``' language."""
        return Outcome(scan, messages.describe(scan, self.display_context(words)))

    def display_context(self, words: Words = ENGLISH) -> messages.Context:
        """What messages need to describe a scan for this shop: its time zone, the shop,
        the offline limits, and the words of the language shown."""
        info = self.info() or {}
        shop = info.get("shop") or {}
        return messages.Context(
            tz=self.config.tz,
            shop_id=shop.get("id"),
            shop_name=shop.get("name"),
            limits=self.offline_limits(),
            words=words,
        )

    def scan(
        self,
        code: str,
        *,
        amount: int | None = None,
        source: str = "cli",
        form_id: str | None = None,
    ) -> Outcome:
        """Check a scanned code and redeem ``amount`` credits of it (default: all).

        Never raises for anything a voucher or the network can do: every outcome is a
        journal row with a plain-words message. ``form_id`` makes a re-posted counter form
        return the first scan's outcome instead of scanning again.
        """
        if amount is not None and (type(amount) is not int or amount < 1):
            raise ValueError("the amount must be a whole number of credits, at least 1")
        if form_id is not None and (earlier := self.store.scan_by_form(form_id)) is not None:
            return self.outcome(earlier)
        code = code.strip()[:MAX_CODE_INPUT]  # a scanner's CR/LF is not part of a code
        trust = self.trust_list()
        if trust is None and self._may_contact():
            self.refresh()
            trust = self.trust_list()
        if trust is None:
            return self._record(
                code,
                source,
                form_id,
                "declined",
                reason="no_trust_list",
                voucher=read_unverified(code),
                amount=amount,
            )
        try:
            voucher = self._verify(code, trust)
        except VoucherRefused as refused:
            return self._record(
                code,
                source,
                form_id,
                "refused",
                reason=refused.code,
                detail=refused.detail,
                voucher=read_unverified(code),
                amount=amount,
            )
        take = voucher.face_value if amount is None else amount
        if take > voucher.face_value:
            return self._record(
                code,
                source,
                form_id,
                "refused",
                reason="amount_exceeds_voucher",
                voucher=voucher,
                amount=take,
            )
        if self.store.open_submissions(voucher.voucher_id) and self._may_contact():
            self._resolve(self.store.open_submissions(voucher.voucher_id))
        held = self.store.holding_scan(voucher.voucher_id)
        if held is not None and held.state == "pending":
            # An earlier scan of it is still waiting for the ledger's answer: it may have
            # gone through. Neither yes nor no until the sync knows.
            return self._record(
                code,
                source,
                form_id,
                "declined",
                reason="awaiting_answer",
                voucher=voucher,
                amount=take,
                other_redeemed_at=held.scanned_at,
            )
        if held is not None:
            own = self.display_context()
            return self._record(
                code,
                source,
                form_id,
                "refused",
                reason="already_redeemed",
                detail="already in this terminal's journal",
                voucher=voucher,
                amount=take,
                other_shop_id=own.shop_id,
                other_shop_name=own.shop_name,
                other_redeemed_at=held.redeemed_at or held.offline_accepted_at or held.scanned_at,
            )
        body = {"code": code, "amount": take}
        if not self._may_contact():
            return self._accept_offline(
                None, voucher, take, body, source=source, form_id=form_id, code=code
            )
        scan, submission = self.store.record_scan(
            code=code,
            source=source,
            state="pending",
            form_id=form_id,
            voucher=voucher,
            amount=take,
            online_body=body,
        )
        assert submission is not None
        return self._redeem_online(scan, submission, voucher, body)

    def _verify(self, code: str, trust: TrustList) -> Voucher:
        try:
            return verify(code, trust, self.clock())
        except VoucherRefused as refused:
            # A key this terminal has not seen may have been published since: look once.
            if refused.code != "unknown_key" or not self._may_contact():
                raise
            if not self.refresh_trust_list():
                raise
            fresh = self.trust_list()
            assert fresh is not None
            return verify(code, fresh, self.clock())

    def _record(
        self,
        code: str,
        source: str,
        form_id: str | None,
        state: str,
        *,
        reason: str,
        voucher: Voucher | None,
        amount: int | None,
        detail: str | None = None,
        **fields: Any,
    ) -> Outcome:
        scan, _ = self.store.record_scan(
            code=code,
            source=source,
            state=state,
            form_id=form_id,
            voucher=voucher,
            amount=amount,
            reason=reason,
            detail=detail,
        )
        if fields:
            scan = self.store.settle(scan.id, **fields)
        return self.outcome(scan)

    def _redeem_online(
        self, scan: Scan, submission: Submission, voucher: Voucher, body: dict[str, Any]
    ) -> Outcome:
        started = time.monotonic()
        for attempt in range(1 + max(0, self.config.retries)):
            if attempt:  # the first send was counted when the scan was written
                self.store.note_attempt(submission.idempotency_key)
            try:
                answer = self.client.redeem(submission.body)
            except LedgerUnreachable as exc:
                self._contact_failed(str(exc))
                if attempt == 0:
                    # The connection was never made: the ledger cannot have this request.
                    self.store.mark_not_sent(submission.idempotency_key)
                break
            except LedgerUnavailable as exc:
                # 503: the ledger cannot serve now; no point in keeping the customer waiting.
                self._contact_failed(str(exc))
                if exc.not_done and attempt == 0:
                    # It says it did nothing with this request: as good as never sent.
                    self.store.mark_not_sent(submission.idempotency_key)
                break
            except LedgerNoAnswer as exc:
                self._contact_failed(str(exc))
                # A dropped connection is retried at once with the same body; after a read
                # timeout the customer has waited long enough: decide offline, sync resolves.
                if time.monotonic() - started >= self.config.read_timeout_s:
                    break
                time.sleep(0.05 * (attempt + 1))
                continue
            except LedgerRefused as refusal:
                self._contact_ok()
                return self.outcome(self._settle_refusal(scan, submission, refusal, True))
            self._contact_ok()
            return self.outcome(self._settle_success(scan, submission, answer, True))
        return self._accept_offline(scan.id, voucher, int(body["amount"]), body)

    def _accept_offline(
        self,
        scan_id: str | None,
        voucher: Voucher,
        amount: int,
        body: dict[str, Any],
        **new_scan: Any,
    ) -> Outcome:
        limits = self.offline_limits()
        if limits is None:
            reason = "offline_never_connected"
        else:
            try:
                scan = self.store.accept_offline(
                    scan_id=scan_id,
                    new_scan={**new_scan, "voucher": voucher} if scan_id is None else None,
                    voucher_id=voucher.voucher_id,
                    amount=amount,
                    floor_limit=limits["floor_limit"],
                    max_count=limits["max_count"],
                    max_total=limits["max_total"],
                    offline_body=body,
                    list_max_age_s=SPENT_LIST_MAX_AGE_S,
                    queue_max_age_s=QUEUE_MAX_AGE_S,
                )
                return self.outcome(scan)
            except OnSpentList as listed:
                used = "voucher_cancelled" if listed.state == "cancelled" else "already_redeemed"
                if scan_id is not None:
                    return self.outcome(
                        self.store.settle(
                            scan_id, state="refused", reason=used, detail=SPENT_LIST_DETAIL
                        )
                    )
                return self._record(
                    new_scan["code"],
                    new_scan["source"],
                    new_scan.get("form_id"),
                    "refused",
                    reason=used,
                    detail=SPENT_LIST_DETAIL,
                    voucher=voucher,
                    amount=amount,
                )
            except CapExceeded as cap:
                reason = cap.reason
        if scan_id is not None:
            return self.outcome(self.store.settle(scan_id, state="declined", reason=reason))
        return self._record(
            new_scan["code"],
            new_scan["source"],
            new_scan.get("form_id"),
            "declined",
            reason=reason,
            voucher=voucher,
            amount=amount,
        )

    # --- answers ------------------------------------------------------------------------------

    def _settle_success(
        self, scan: Scan, sub: Submission, answer: dict[str, Any], foreground: bool
    ) -> Scan:
        status = answer.get("status", "redeemed")
        found = answer.get("exception")
        exception: dict[str, Any] = found if isinstance(found, dict) else {}
        state = status if status in ("exception", "held") else "redeemed"
        current = self.store.scan(scan.id) or scan
        # The screen said something else (turned away, or never answered before a crash), or
        # the voucher went elsewhere while this shop held it offline: the shopkeeper must see.
        attention = state in ("exception", "held") or (
            not foreground and current.state in ("declined", "pending")
        )
        amount = answer.get("amount")
        change = answer.get("change")
        return self.store.settle(
            scan.id,
            submission_key=sub.idempotency_key,
            response_status=201,
            response_body=json.dumps(answer),
            supersede_offline=sub.kind == "online",
            state=state,
            reason=exception.get("reason") if state != "redeemed" else None,
            detail=exception.get("detail") if state != "redeemed" else None,
            exception_id=exception.get("id"),
            redemption_id=str(answer.get("id")) if answer.get("id") is not None else None,
            redeemed_amount=amount if type(amount) is int else scan.amount,
            change=change if type(change) is int else None,
            redeemed_at=parse_time(
                answer.get("redeemed_at") if isinstance(answer.get("redeemed_at"), str) else None
            ),
            needs_attention=1 if attention else int(current.needs_attention),
        )

    def _settle_refusal(
        self, scan: Scan, sub: Submission, refusal: LedgerRefused, foreground: bool
    ) -> Scan:
        current = self.store.scan(scan.id) or scan
        answered: dict[str, Any] = {
            "submission_key": sub.idempotency_key,
            "response_status": refusal.status,
            "response_body": json.dumps(refusal.problem),
        }
        if refusal.status in (401, 403):
            # Our token was refused: nothing was redeemed, and this terminal may not accept
            # offline either (it may have been withdrawn).
            if current.state == "pending":
                return self.store.settle(
                    scan.id, **answered, state="declined", reason="terminal_not_authorised"
                )
            return self.store.settle(scan.id, **answered)
        if sub.kind == "online" and current.state in ("queued", "declined"):
            # The lost online request did not go through: the queued offline submission (if
            # any) may now be sent; a declined scan stays declined.
            return self.store.settle(scan.id, **answered)
        problem = refusal.problem
        other_at = problem.get("redeemed_at")
        return self.store.settle(
            scan.id,
            **answered,
            state="refused",
            reason=refusal.code,
            detail=str(problem.get("detail") or "")[:500] or None,
            other_shop_id=problem.get("shop_id") if type(problem.get("shop_id")) is int else None,
            other_shop_name=problem.get("shop_name")
            if isinstance(problem.get("shop_name"), str)
            else None,
            other_redeemed_at=parse_time(other_at) if isinstance(other_at, str) else None,
            # A voucher the shop accepted offline and the council then refused: the shop
            # has given goods it will not be paid for. Show it.
            needs_attention=1 if sub.kind == "offline" else int(current.needs_attention),
        )

    def _send(self, sub: Submission, report: SyncReport) -> bool:
        """Send a stored submission once; settle its answer. False if the ledger is down."""
        scan = self.store.scan(sub.scan_id)
        assert scan is not None
        self.store.note_attempt(sub.idempotency_key)
        try:
            answer = self.client.redeem(sub.body)
        except LedgerUnreachable as exc:
            self._contact_failed(str(exc))
            report.reachable = False
            report.problem = str(exc)
            return False
        except LedgerNoAnswer as exc:
            self._contact_failed(str(exc))
            report.unanswered += 1
            report.problem = str(exc)
            return True
        except LedgerRefused as refusal:
            self._contact_ok()
            settled = self._settle_refusal(scan, sub, refusal, False)
            if settled.state == "refused" and sub.kind == "offline":
                report.refused.append(settled)
            return True
        self._contact_ok()
        settled = self._settle_success(scan, sub, answer, False)
        if settled.state == "exception":
            report.exceptions.append(settled)
        elif settled.state == "held":
            report.held.append(settled)
        else:
            report.redeemed.append(settled)
        return True

    def _resolve(self, subs: list[Submission]) -> None:
        """Resend online requests whose answer was lost (the ledger replays its answer)."""
        report = SyncReport()
        for sub in subs:
            if not self._send(sub, report):
                return

    # --- sync ---------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Resolve lost answers, send the offline queue, fetch the spent list, upload the
        journal.

        Idempotent and safe to run at any time, from any process: every request sent is a
        stored one, so sending it twice returns the first answer.
        """
        with self._sync_lock:
            report = SyncReport()
            try:
                self.refresh_info()
            except (LedgerUnreachable, LedgerNoAnswer) as exc:
                report.reachable = False
                report.problem = str(exc)
            except LedgerRefused as exc:
                report.reachable = False
                report.problem = f"the ledger refused this terminal: {exc}"
            if report.reachable:
                self.refresh_trust_list()
                self._sync_submissions(report)
            if report.reachable:
                # After the queue went out (a fetch waits while any acceptance is queued).
                report.spent_list = self.refresh_spent_list()
            if report.reachable:
                self._upload_journal(report)
            report.still_queued, _ = self.store.queue_summary()
            report.still_unresolved = self.store.unresolved_count()
            return report

    def _sync_submissions(self, report: SyncReport) -> None:
        for sub in self.store.open_submissions():
            if not self._send(sub, report):
                return
            report.resolved += 1
        still_open = {s.scan_id for s in self.store.open_submissions()}
        for sub in self.store.queued_submissions():
            if sub.scan_id in still_open:
                continue  # its online request's fate is still unknown: never send both
            if not self._send(sub, report):
                return
            report.sent += 1

    def _upload_journal(self, report: SyncReport) -> None:
        while batch := self.store.unreported(JOURNAL_BATCH):
            entries = [journal_entry(s) for s in batch]
            try:
                self.client.upload_journal(entries)
            except (LedgerUnreachable, LedgerNoAnswer, LedgerRefused) as exc:
                report.problem = f"journal upload: {exc}"
                return
            self.store.mark_reported([(s.id, s.journal_outcome) for s in batch])
            report.journal_uploaded += len(batch)
            if len(batch) < JOURNAL_BATCH:
                return

    # --- the counter screen's lists -------------------------------------------------------------

    def stored_scan(self, scan_id: str) -> Scan | None:
        """The scan with this id (to show its outcome again), or None."""
        return self.store.scan(scan_id)

    def queue_summary(self) -> tuple[int, int]:
        """(count, credits) of the scans accepted offline and not yet sent to the ledger."""
        return self.store.queue_summary()

    def unconfirmed_count(self) -> int:
        """Scans sent online whose answer is not known yet (the next sync resolves them)."""
        return self.store.unresolved_count()

    def needs_attention(self) -> list[Scan]:
        """Scans that settled differently from what the screen said, newest first."""
        return self.store.attention()

    def acknowledge(self, scan_id: str) -> None:
        """The shopkeeper has seen this scan's changed outcome: stop showing it."""
        self.store.acknowledge(scan_id)

    # --- figures ------------------------------------------------------------------------------

    def totals(self, start: datetime, end: datetime) -> Totals:
        """What was taken between ``start`` and ``end`` (aware datetimes)."""
        return Totals(*self.store.totals(start, end))

    def day_bounds(self, day: datetime | None = None) -> tuple[datetime, datetime]:
        """The shop's local day (in the configured time zone) containing ``day`` (now)."""
        local = (day or utc_now()).astimezone(self.config.tz)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=1, hours=2)).replace(hour=0)  # DST-safe next midnight
        return start, end

    def month_bounds(self) -> tuple[datetime, datetime]:
        """The shop's local calendar month so far."""
        local = utc_now().astimezone(self.config.tz)
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        return start, end

    def today(self, limit: int = 10_000) -> tuple[Totals, list[Scan]]:
        """Today's totals and the scans made today, newest first (at most ``limit``)."""
        start, end = self.day_bounds()
        return self.totals(start, end), self.store.scans_between(start, end, limit)


def journal_entry(scan: Scan) -> dict[str, Any]:
    """One entry of ``POST /terminal/journal`` for a scan (docs/api-terminal.md)."""
    at = scan.redeemed_at or scan.offline_accepted_at or scan.updated_at
    entry: dict[str, Any] = {
        "scan_id": scan.id,
        "voucher_id": scan.voucher_id,
        "amount": scan.taken or scan.amount or scan.face_value or 0,
        "outcome": scan.journal_outcome,
        "redemption_id": scan.redemption_id,
        "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if scan.reason:
        entry["reason"] = scan.reason
    if scan.offline_accepted_at:
        entry["offline_accepted_at"] = iso(scan.offline_accepted_at)
    return entry
