"""Plain words for the shopkeeper: every outcome of a scan as a short sentence, never a code.

The machine-readable outcome (state, reason code, exit code) is kept beside the words in the
journal and in ``--json`` output; the words are for a person at a busy counter, so they say
what happened and what to do, in the shop's local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

NOT_VALID = "This is not a valid voucher."
CANT_ACCEPT = "Can't accept this voucher now."
GO_ONLINE = "Can't accept vouchers offline until this till connects."
#: A scan's ``detail`` when this till's copy of the council's spent list refused it.
SPENT_LIST_DETAIL = "on the council's list of used vouchers"


@dataclass(frozen=True)
class Context:
    """What the words may mention: the shop's time zone, its own id and name, its limits."""

    tz: ZoneInfo
    shop_id: int | None = None
    shop_name: str | None = None
    limits: dict[str, int] | None = None


@dataclass(frozen=True)
class Message:
    """``tone`` ``yes`` (green: hand over the goods) or ``no`` (red); ``big`` is the line
    readable from a metre away; ``title`` one sentence; ``lines`` the details."""

    tone: str
    big: str
    title: str
    lines: tuple[str, ...] = ()


def credits(n: int | None) -> str:
    """``1 credit`` / ``12 credits``."""
    return "1 credit" if n == 1 else f"{n if n is not None else '?'} credits"


def when(t: datetime | None, ctx: Context, *, now: datetime | None = None) -> str:
    """``at 10:31`` today, ``on Tue 3 Dec at 10:31`` otherwise (shop's local time)."""
    if t is None:
        return "earlier"
    local = t.astimezone(ctx.tz)
    today = (now or datetime.now(UTC)).astimezone(ctx.tz).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"at {clock}"
    return f"on {local.strftime('%a')} {local.day} {local.strftime('%b')} at {clock}"


def _expiry(expires_at: int | None, ctx: Context) -> str:
    if expires_at is None:
        return "unknown"
    local = datetime.fromtimestamp(expires_at, ctx.tz)
    return f"{local.day} {local.strftime('%b %Y')}, {local.strftime('%H:%M')}"


def describe(scan: Any, ctx: Context) -> Message:
    """The message for a journal row (``shop_terminal.store.Scan``)."""
    ref = f"Voucher {scan.reference}" if scan.reference else "Voucher"
    state = scan.state
    if state == "held":
        taken = scan.redeemed_amount if scan.redeemed_amount is not None else scan.amount
        return Message(
            "yes",
            credits(taken),
            "Accepted offline — used elsewhere; the council will decide.",
            (
                _taken_line(ref, taken, scan.face_value, None),
                f"Accepted offline {when(scan.offline_accepted_at, ctx)}.",
                _exception_line(scan),
                "This till has had several such vouchers this month, so a council officer "
                "will decide whether the council pays your shop for this one. Nothing more to "
                "do; the council may contact you.",
            ),
        )
    if state in ("redeemed", "exception"):
        taken = scan.redeemed_amount if scan.redeemed_amount is not None else scan.amount
        lines = [_taken_line(ref, taken, scan.face_value, scan.change)]
        if scan.offline_accepted_at is not None:
            lines.append(
                f"Accepted offline {when(scan.offline_accepted_at, ctx)}; the council has it now."
            )
        if state == "exception":
            return Message(
                "yes",
                credits(taken),
                "Accepted offline — but it was used elsewhere.",
                (
                    *lines,
                    _exception_line(scan),
                    "The council has recorded this and still pays your shop; nothing more to do.",
                ),
            )
        if scan.needs_attention:
            # Settled after the customer was told "no" or was told nothing (a lost answer,
            # a stopped terminal): the shop has been paid for goods it may not have given.
            return Message(
                "yes",
                credits(taken),
                "This voucher went through after all.",
                (
                    *lines,
                    "The screen could not confirm it at the time, but the council's system took "
                    f"it: your shop is paid {credits(taken)}.",
                    "If the customer comes back, give them their goods; otherwise tell the "
                    "council, so it can give the credits back.",
                ),
            )
        return Message("yes", credits(taken), "Voucher accepted.", tuple(lines))
    if state == "queued":
        return Message(
            "yes",
            credits(scan.amount),
            "Accepted offline.",
            (
                _taken_line(ref, scan.amount, scan.face_value, None),
                "The council's system can't be reached right now. This voucher is accepted and "
                "will be sent automatically when the connection is back.",
            ),
        )
    if state == "pending":
        return Message(
            "no",
            "WAIT",
            "Waiting for the council's answer.",
            ("Don't hand over goods for this voucher yet.",),
        )
    if state == "declined":
        return Message("no", "NOT NOW", *_declined(scan, ctx))
    return Message("no", "NO", *_refused(scan, ctx))


def _taken_line(ref: str, taken: int | None, face: int | None, change: int | None) -> str:
    if face is None or taken is None or taken == face:
        return f"{ref} for {credits(face if face is not None else taken)}: all of it taken."
    back = change if change is not None else face - taken
    return (
        f"{ref} for {credits(face)}: {credits(taken)} taken, {credits(back)} "
        "go back to the customer."
    )


def _exception_line(scan: Any) -> str:
    if scan.reason == "voucher_cancelled":
        return "Meanwhile its owner had cancelled it."
    return "Meanwhile it had been used at another shop."


def _where(scan: Any, ctx: Context) -> str:
    """Where and when it was used: ``here at 10:31``, ``at Brixton Bakery on …``."""
    at = when(scan.other_redeemed_at, ctx)
    if scan.other_shop_id is not None and scan.other_shop_id == ctx.shop_id:
        return f"here {at}"
    if scan.other_shop_name:
        return f"at {scan.other_shop_name} {at}"
    return f"at another shop {at}"


def _already(scan: Any, ctx: Context) -> str:
    if scan.detail == SPENT_LIST_DETAIL:
        return "This voucher has already been used."
    return f"This voucher was already used {_where(scan, ctx)}."


def _refused(scan: Any, ctx: Context) -> tuple[str, tuple[str, ...]]:
    reason = scan.reason
    if reason == "malformed_code":
        return NOT_VALID, (
            "The code could not be read as a council voucher. Scan the QR code "
            "again, or ask to see the voucher.",
        )
    if reason == "invalid_signature":
        return NOT_VALID, ("The code has been changed, or it was not issued by the council.",)
    if reason == "unknown_key":
        return NOT_VALID, (
            "It was not signed by the council's keys (it may be forged, or signed "
            "with a key that has been withdrawn).",
        )
    if reason == "expired":
        return "This voucher has expired.", (
            f"It was valid until {_expiry(scan.expires_at, ctx)}.",
            "The customer can ask the council for help.",
        )
    if scan.offline_accepted_at is not None and reason in ("already_redeemed", "voucher_cancelled"):
        # Accepted offline, then refused by the council: it does not pay for this one.
        fate = (
            "Its owner had cancelled it."
            if reason == "voucher_cancelled"
            else f"It had already been used {_where(scan, ctx)}."
        )
        said = (f"The council's system said: {scan.detail}.",) if scan.detail else ()
        return "The council refused a voucher this till accepted offline.", (
            fate,
            "The council pays for a voucher taken offline only when the till could not have "
            "known it was used.",
            *said,
            "Contact the council if you think this is wrong.",
        )
    if reason == "already_redeemed":
        lines: tuple[str, ...] = ("A voucher can be used only once.",)
        if scan.detail == SPENT_LIST_DETAIL:
            lines = ("It is on the council's list of used vouchers, which this till keeps.", *lines)
        return _already(scan, ctx), lines
    if reason == "voucher_cancelled":
        return "This voucher was cancelled by its owner.", (
            "Its credits went back to their account; they can make a new voucher.",
        )
    if reason == "amount_exceeds_voucher":
        return f"This voucher is only worth {credits(scan.face_value)}.", (
            f"You asked for {credits(scan.amount)}. Take {scan.face_value} or less.",
        )
    if reason == "not_found":
        return "The council has no record of this voucher.", (
            "It may be a copy of a test voucher. Ask the customer to check their voucher.",
        )
    if reason == "offline_limit_exceeded":
        return "The council refused a voucher this till accepted offline.", (
            "It was above this till's offline limit. Contact the council about it.",
        )
    lines = ("The council's system refused it" + (f": {scan.detail}" if scan.detail else "."),)
    return "The council's system refused this voucher.", lines


def _declined(scan: Any, ctx: Context) -> tuple[str, tuple[str, ...]]:
    reason = scan.reason
    limits = ctx.limits or {}
    down = "The council's system can't be reached right now."
    later = "Ask the customer to come back later, or try again in a minute."
    if reason == "no_trust_list":
        return "Can't check vouchers yet.", (
            "This till has not reached the council's system since it was set up, so it "
            "cannot check vouchers. Connect it to the internet.",
        )
    if reason == "terminal_not_authorised":
        return "This till is not allowed to take vouchers.", (
            "The council's system refused this till's key. Ask the council to check this "
            "till's registration.",
        )
    if reason == "awaiting_answer":
        return CANT_ACCEPT, (
            f"Its earlier scan {when(scan.other_redeemed_at, ctx)} is still waiting for the "
            "council's answer, so it may already be used.",
            later,
        )
    if reason == "offline_never_connected":
        return CANT_ACCEPT, (down, "This till has no offline allowance yet.", later)
    if reason == "offline_list_stale":
        return GO_ONLINE, (
            down,
            "Its list of used vouchers is more than a day old (or was not fully updated), so "
            "it can't take vouchers offline: connect it to the internet first.",
            later,
        )
    if reason == "offline_queue_too_old":
        return GO_ONLINE, (
            down,
            "It has held vouchers taken offline for more than a day without sending them: "
            "connect it to the internet so it can send them first.",
            later,
        )
    if reason == "offline_floor_limit":
        floor = limits.get("floor_limit")
        return CANT_ACCEPT, (
            down,
            f"Offline, this till can take at most {credits(floor)} from one voucher.",
            f"Take part of it (up to {floor}), or ask the customer to come back later.",
        )
    if reason == "offline_count_cap":
        return CANT_ACCEPT, (
            down,
            f"This till already holds {limits.get('max_count')} offline vouchers waiting to be "
            "sent, which is its limit.",
            later,
        )
    if reason == "offline_total_cap":
        return CANT_ACCEPT, (
            down,
            f"Offline vouchers waiting to be sent would go over this till's limit of "
            f"{credits(limits.get('max_total'))}.",
            later,
        )
    return CANT_ACCEPT, (down, later)
