"""Plain words for the shopkeeper: every outcome of a scan as a short sentence, never a code.

The machine-readable outcome (state, reason code, exit code) is kept beside the words in the
journal and in ``--json`` output; the words are for a person at a busy counter, so they say
what happened and what to do, in the shop's local time and in the language of the counter
screen (``Context.words``; English by default, as on the command line).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shop_terminal.i18n import ENGLISH, Words

#: A scan's ``detail`` when this till's copy of the council's spent list refused it (stored,
#: not shown: the words below say it in the counter's language).
SPENT_LIST_DETAIL = "on the council's list of used vouchers"


@dataclass(frozen=True)
class Context:
    """What the words may mention: the shop's time zone, its own id and name, its limits;
    and the language they are written in."""

    tz: ZoneInfo
    shop_id: int | None = None
    shop_name: str | None = None
    limits: dict[str, int] | None = None
    words: Words = ENGLISH


@dataclass(frozen=True)
class Message:
    """``tone`` ``yes`` (green: hand over the goods) or ``no`` (red); ``big`` is the line
    readable from a metre away; ``title`` one sentence; ``lines`` the details."""

    tone: str
    big: str
    title: str
    lines: tuple[str, ...] = ()


def credits(n: int | None, words: Words = ENGLISH) -> str:
    """``1 credit`` / ``12 credits`` (Polish: ``2 kredyty``, ``5 kredytów``)."""
    if n is None:
        return words.gettext("? credits")
    return words.ngettext("%(num)s credit", "%(num)s credits", n)


def when(t: datetime | None, ctx: Context, *, now: datetime | None = None) -> str:
    """``at 10:31`` today, ``on Tue 3 Dec at 10:31`` otherwise (shop's local time)."""
    w = ctx.words
    if t is None:
        return w.gettext("earlier")
    local = t.astimezone(ctx.tz)
    today = (now or datetime.now(UTC)).astimezone(ctx.tz).date()
    if local.date() == today:
        return w.gettext("at %(time)s", time=w.clock(local))
    return w.gettext("on %(day)s at %(time)s", day=w.weekday_day(local.date()), time=w.clock(local))


def clock(t: datetime | None, ctx: Context) -> str:
    """The time of day only (``10:31``), for the list of today's scans."""
    return ctx.words.clock(t.astimezone(ctx.tz)) if t is not None else ""


def _expiry(expires_at: int | None, ctx: Context) -> str:
    if expires_at is None:
        return ctx.words.gettext("unknown")
    return ctx.words.day_and_time(datetime.fromtimestamp(expires_at, ctx.tz))


def describe(scan: Any, ctx: Context) -> Message:
    """The message for a journal row (``shop_terminal.store.Scan``)."""
    w = ctx.words
    state = scan.state
    if state == "held":
        taken = scan.redeemed_amount if scan.redeemed_amount is not None else scan.amount
        return Message(
            "yes",
            credits(taken, w),
            w.gettext("Accepted offline — used elsewhere; the council will decide."),
            (
                _taken_line(scan.reference, taken, scan.face_value, None, w),
                w.gettext("Accepted offline %(when)s.", when=when(scan.offline_accepted_at, ctx)),
                _exception_line(scan, w),
                w.gettext(
                    "This till has had several such vouchers this month, so a council officer "
                    "will decide whether the council pays your shop for this one. Nothing more "
                    "to do; the council may contact you."
                ),
            ),
        )
    if state in ("redeemed", "exception"):
        taken = scan.redeemed_amount if scan.redeemed_amount is not None else scan.amount
        lines = [_taken_line(scan.reference, taken, scan.face_value, scan.change, w)]
        if scan.offline_accepted_at is not None:
            lines.append(
                w.gettext(
                    "Accepted offline %(when)s; the council has it now.",
                    when=when(scan.offline_accepted_at, ctx),
                )
            )
        if state == "exception":
            return Message(
                "yes",
                credits(taken, w),
                w.gettext("Accepted offline — but it was used elsewhere."),
                (
                    *lines,
                    _exception_line(scan, w),
                    w.gettext(
                        "The council has recorded this and still pays your shop; "
                        "nothing more to do."
                    ),
                ),
            )
        if scan.needs_attention:
            # Settled after the customer was told "no" or was told nothing (a lost answer,
            # a stopped terminal): the shop has been paid for goods it may not have given.
            return Message(
                "yes",
                credits(taken, w),
                w.gettext("This voucher went through after all."),
                (
                    *lines,
                    w.gettext(
                        "The screen could not confirm it at the time, but the council's system "
                        "took it: your shop is paid %(amount)s.",
                        amount=credits(taken, w),
                    ),
                    w.gettext(
                        "If the customer comes back, give them their goods; otherwise tell the "
                        "council, so it can give the credits back."
                    ),
                ),
            )
        return Message("yes", credits(taken, w), w.gettext("Voucher accepted."), tuple(lines))
    if state == "queued":
        return Message(
            "yes",
            credits(scan.amount, w),
            w.gettext("Accepted offline."),
            (
                _taken_line(scan.reference, scan.amount, scan.face_value, None, w),
                w.gettext(
                    "The council's system can't be reached right now. This voucher is accepted "
                    "and will be sent automatically when the connection is back."
                ),
            ),
        )
    if state == "pending":
        return Message(
            "no",
            w.gettext("WAIT"),
            w.gettext("Waiting for the council's answer."),
            (w.gettext("Don't hand over goods for this voucher yet."),),
        )
    if state == "declined":
        return Message("no", w.gettext("NOT NOW"), *_declined(scan, ctx))
    return Message("no", w.gettext("NO"), *_refused(scan, ctx))


def _taken_line(
    reference: str | None, taken: int | None, face: int | None, change: int | None, w: Words
) -> str:
    if face is None or taken is None or taken == face:
        amount = credits(face if face is not None else taken, w)
        if reference:
            return w.gettext(
                "Voucher %(ref)s for %(amount)s: all of it taken.", ref=reference, amount=amount
            )
        return w.gettext("Voucher for %(amount)s: all of it taken.", amount=amount)
    back = change if change is not None else face - taken
    values = {"face": credits(face, w), "taken": credits(taken, w), "back": credits(back, w)}
    if reference:
        return w.gettext(
            "Voucher %(ref)s for %(face)s: %(taken)s taken, %(back)s go back to the customer.",
            ref=reference,
            **values,
        )
    return w.gettext(
        "Voucher for %(face)s: %(taken)s taken, %(back)s go back to the customer.", **values
    )


def _exception_line(scan: Any, w: Words) -> str:
    if scan.reason == "voucher_cancelled":
        return w.gettext("Meanwhile its owner had cancelled it.")
    return w.gettext("Meanwhile it had been used at another shop.")


def _where(scan: Any, ctx: Context) -> str:
    """Where and when it was used: ``here at 10:31``, ``at Brixton Bakery on …``."""
    w = ctx.words
    at = when(scan.other_redeemed_at, ctx)
    if scan.other_shop_id is not None and scan.other_shop_id == ctx.shop_id:
        return w.gettext("here %(when)s", when=at)
    if scan.other_shop_name:
        return w.gettext("at %(shop)s %(when)s", shop=scan.other_shop_name, when=at)
    return w.gettext("at another shop %(when)s", when=at)


def _already(scan: Any, ctx: Context) -> str:
    w = ctx.words
    if scan.detail == SPENT_LIST_DETAIL:
        return w.gettext("This voucher has already been used.")
    at = when(scan.other_redeemed_at, ctx)
    if scan.other_shop_id is not None and scan.other_shop_id == ctx.shop_id:
        return w.gettext("This voucher was already used here %(when)s.", when=at)
    if scan.other_shop_name:
        return w.gettext(
            "This voucher was already used at %(shop)s %(when)s.",
            shop=scan.other_shop_name,
            when=at,
        )
    return w.gettext("This voucher was already used at another shop %(when)s.", when=at)


def _refused(scan: Any, ctx: Context) -> tuple[str, tuple[str, ...]]:
    w = ctx.words
    reason = scan.reason
    not_valid = w.gettext("This is not a valid voucher.")
    if reason == "malformed_code":
        return not_valid, (
            w.gettext(
                "The code could not be read as a council voucher. Scan the QR code "
                "again, or ask to see the voucher."
            ),
        )
    if reason == "invalid_signature":
        return not_valid, (
            w.gettext("The code has been changed, or it was not issued by the council."),
        )
    if reason == "unknown_key":
        return not_valid, (
            w.gettext(
                "It was not signed by the council's keys (it may be forged, or signed "
                "with a key that has been withdrawn)."
            ),
        )
    if reason == "expired":
        return w.gettext("This voucher has expired."), (
            w.gettext("It was valid until %(when)s.", when=_expiry(scan.expires_at, ctx)),
            w.gettext("The customer can ask the council for help."),
        )
    if scan.offline_accepted_at is not None and reason in ("already_redeemed", "voucher_cancelled"):
        # Accepted offline, then refused by the council: it does not pay for this one.
        fate = (
            w.gettext("Its owner had cancelled it.")
            if reason == "voucher_cancelled"
            else w.gettext("It had already been used %(where)s.", where=_where(scan, ctx))
        )
        # The ledger's own words (its problem+json detail) are English: the API is not
        # translated.
        said = (
            (w.gettext("The council's system said: %(detail)s.", detail=scan.detail),)
            if scan.detail
            else ()
        )
        return w.gettext("The council refused a voucher this till accepted offline."), (
            fate,
            w.gettext(
                "The council pays for a voucher taken offline only when the till could not "
                "have known it was used."
            ),
            *said,
            w.gettext("Contact the council if you think this is wrong."),
        )
    if reason == "already_redeemed":
        lines: tuple[str, ...] = (w.gettext("A voucher can be used only once."),)
        if scan.detail == SPENT_LIST_DETAIL:
            lines = (
                w.gettext("It is on the council's list of used vouchers, which this till keeps."),
                *lines,
            )
        return _already(scan, ctx), lines
    if reason == "voucher_cancelled":
        return w.gettext("This voucher was cancelled by its owner."), (
            w.gettext("Its credits went back to their account; they can make a new voucher."),
        )
    if reason == "amount_exceeds_voucher":
        return w.gettext(
            "This voucher is only worth %(amount)s.", amount=credits(scan.face_value, w)
        ), (
            w.gettext(
                "You asked for %(asked)s. Take %(most)s or less.",
                asked=credits(scan.amount, w),
                most=w.number(scan.face_value) if scan.face_value is not None else "?",
            ),
        )
    if reason == "not_found":
        return w.gettext("The council has no record of this voucher."), (
            w.gettext(
                "It may be a copy of a test voucher. Ask the customer to check their voucher."
            ),
        )
    if reason == "offline_limit_exceeded":
        return w.gettext("The council refused a voucher this till accepted offline."), (
            w.gettext("It was above this till's offline limit. Contact the council about it."),
        )
    # The ledger's own words (its problem+json detail) are English: the API is not translated.
    line = (
        w.gettext("The council's system refused it: %(detail)s", detail=scan.detail)
        if scan.detail
        else w.gettext("The council's system refused it.")
    )
    return w.gettext("The council's system refused this voucher."), (line,)


def _declined(scan: Any, ctx: Context) -> tuple[str, tuple[str, ...]]:
    w = ctx.words
    reason = scan.reason
    limits = ctx.limits or {}
    cant_accept = w.gettext("Can't accept this voucher now.")
    down = w.gettext("The council's system can't be reached right now.")
    later = w.gettext("Ask the customer to come back later, or try again in a minute.")
    if reason == "no_trust_list":
        return w.gettext("Can't check vouchers yet."), (
            w.gettext(
                "This till has not reached the council's system since it was set up, so it "
                "cannot check vouchers. Connect it to the internet."
            ),
        )
    if reason == "terminal_not_authorised":
        return w.gettext("This till is not allowed to take vouchers."), (
            w.gettext(
                "The council's system refused this till's key. Ask the council to check this "
                "till's registration."
            ),
        )
    if reason == "awaiting_answer":
        return cant_accept, (
            w.gettext(
                "Its earlier scan %(when)s is still waiting for the council's answer, so it may "
                "already be used.",
                when=when(scan.other_redeemed_at, ctx),
            ),
            later,
        )
    if reason == "offline_never_connected":
        return cant_accept, (down, w.gettext("This till has no offline allowance yet."), later)
    go_online = w.gettext("Can't accept vouchers offline until this till connects.")
    if reason == "offline_list_stale":
        return go_online, (
            down,
            w.gettext(
                "Its list of used vouchers is more than a day old (or was not fully updated), "
                "so it can't take vouchers offline: connect it to the internet first."
            ),
            later,
        )
    if reason == "offline_queue_too_old":
        return go_online, (
            down,
            w.gettext(
                "It has held vouchers taken offline for more than a day without sending them: "
                "connect it to the internet so it can send them first."
            ),
            later,
        )
    if reason == "offline_floor_limit":
        floor = limits.get("floor_limit")
        return cant_accept, (
            down,
            w.gettext(
                "Offline, this till can take at most %(amount)s from one voucher.",
                amount=credits(floor, w),
            ),
            w.gettext(
                "Take part of it (up to %(most)s), or ask the customer to come back later.",
                most=w.number(floor) if floor is not None else "?",
            ),
        )
    if reason == "offline_count_cap":
        count = limits.get("max_count")
        return cant_accept, (
            down,
            w.gettext(
                "This till already holds %(count)s offline vouchers waiting to be sent, which "
                "is its limit.",
                count=w.number(count) if count is not None else "?",
            ),
            later,
        )
    if reason == "offline_total_cap":
        return cant_accept, (
            down,
            w.gettext(
                "Offline vouchers waiting to be sent would go over this till's limit of "
                "%(amount)s.",
                amount=credits(limits.get("max_total"), w),
            ),
            later,
        )
    return cant_accept, (down, later)
