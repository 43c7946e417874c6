"""Every template filter of the pages, in one place, written for the page's language.

Dates and times are London's (the scheme's months are London months) and formatted by
Babel for the reader's language (credits.i18n); numbers get the language's grouping; the
words for states, roles and units come from the catalogs.

| filter | gives (English) |
|---|---|
| ``london`` (``london(false)``: no time) | ``3 Dec 2026, 14:05`` (``3 Dec 2026``) |
| ``london_long`` / ``london_day`` | ``3 December 2026, 14:05`` / ``3 December 2026`` |
| ``london_date`` | ``Thu, 3 Dec 2026`` (a date, or an instant's London date) |
| ``london_time`` | ``3 Dec 2026, 14:05`` |
| ``clock`` (``clock(true)``: seconds) | ``14:05`` |
| ``month_name`` | ``December 2026`` (a ``YYYY-MM`` month) |
| ``number`` / ``signed`` | ``1,234`` / ``+15``, ``−5`` |
| ``credits`` | ``1 credit``, ``12 credits`` |
| ``state_label``, ``kind_label``, ``role_label`` | words for codes |
| ``account_type_label``, ``line_kind_label`` | words for statement codes |
| ``status_label`` (``status_label('voucher')``...) | a state's word, by what it is of |
| ``describe_quantity`` / ``describe_rate`` | ``2 hours``, ``1 run`` / ``10 credits an hour`` |
| ``join_and`` | ``Ann, Bola and Cara`` |
| ``capfirst`` | first letter upper-case (after translating) |
| ``tr`` | a :class:`credits.i18n.Text` in the page's language (as plain text) |
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask

from credits import i18n
from credits.earning.quantities import describe, describe_rate
from credits.i18n import T, Tn, Tp, translate

STATE_LABELS = {
    "pending": T("Waiting for approval"),
    "awaiting_officer": T("Waiting for a council officer"),
    "posted": T("Approved"),
    "rejected": T("Not approved"),
}
KIND_LABELS = {"record": T("Recorded"), "session": T("Session sheet"), "claim": T("Claim")}

#: Roles as a person reads them (a role switcher, an account page).
ROLE_LABELS = {
    "member": T("Member"),
    "coordinator": T("Coordinator"),
    "shop_staff": T("Shop staff"),
    "officer": T("Council officer"),
    "admin": T("Administrator"),
    "terminal": T("Shop terminal"),
}

#: States as tags show them, by what they are the state of (the words differ: in Polish an
#: account is "aktywne", a voucher "wykorzystany").
STATUS_LABELS = {
    "person": {
        "active": Tp("person status", "Active"),
        "invited": Tp("person status", "Invited"),
        "pending": Tp("person status", "Pending"),
        "disabled": Tp("person status", "Disabled"),
        "declined": Tp("person status", "Declined"),
    },
    "voucher": {
        "open": Tp("voucher state", "Open"),
        "redeemed": Tp("voucher state", "Spent"),
        "cancelled": Tp("voucher state", "Cancelled"),
        "expired": Tp("voucher state", "Expired"),
    },
    "adjustment": {
        "pending": Tp("adjustment state", "Pending"),
        "posted": Tp("adjustment state", "Posted"),
        "rejected": Tp("adjustment state", "Rejected"),
    },
    "exception": {
        "open": Tp("exception state", "Open"),
        "resolved": Tp("exception state", "Resolved"),
        "reversed": Tp("exception state", "Reversed"),
        "pending": Tp("adjustment state", "Pending"),
        "posted": Tp("adjustment state", "Posted"),
        "rejected": Tp("adjustment state", "Rejected"),
    },
}


#: Account types in a trial balance, and the kinds of line in a shop's statement.
ACCOUNT_TYPE_LABELS = {
    "issuance": T("Issuance"),
    "member": T("Members"),
    "vouchers_outstanding": T("Vouchers outstanding"),
    "shop": T("Shops"),
    "expired": T("Expired"),
    "adjustments": T("Adjustments"),
}
LINE_KIND_LABELS = {
    "redemption": T("Redemption"),
    "reversal": T("Reversal"),
    "exception": T("Exception"),
}


def london(moment: datetime | None, with_time: bool = True) -> str:
    """``3 Dec 2026, 14:05`` in London (``3 Dec 2026`` without the time); ``–`` for none."""
    if moment is None:
        return "–"
    return i18n.format_when(moment) if with_time else i18n.format_day(moment)


def london_long(moment: datetime | None) -> str:
    """``3 December 2026, 14:05`` in London."""
    return "" if moment is None else i18n.format_when_long(moment)


def london_day(moment: date | datetime | None) -> str:
    """``3 December 2026`` (London date)."""
    return "" if moment is None else i18n.format_day_long(moment)


def london_date(value: date | datetime | None) -> str:
    """A date, or an instant's London date, with its weekday: ``Thu, 3 Dec 2026``."""
    return "" if value is None else i18n.format_weekday(value)


def london_time(moment: datetime | None) -> str:
    """An instant in London time: ``3 Dec 2026, 14:05``."""
    return "" if moment is None else i18n.format_when(moment)


def clock(moment: datetime | None, seconds: bool = False) -> str:
    """An instant's London clock time: ``14:05``."""
    return "" if moment is None else i18n.format_time(moment, seconds=seconds)


def month_name(month: Any) -> str:
    """``2026-12`` (or a date in it) as ``December 2026``."""
    if isinstance(month, date):
        return i18n.format_month(month)
    year, _, mm = str(month).partition("-")
    return i18n.format_month(date(int(year), int(mm), 1))


def number(value: int | float | None) -> str:
    """``1,234`` in English, ``1 234`` in Polish."""
    return "" if value is None else i18n.format_number(value)


def credits(value: int | None) -> str:
    """``1 credit``, ``12 credits`` (Polish: ``2 kredyty``, ``5 kredytów``)."""
    n = int(value or 0)
    return translate(Tn("%(num)s credit", "%(num)s credits", n))


def signed(amount: int) -> str:
    """``+15`` or ``−5`` (a real minus sign)."""
    if amount > 0:
        return "+" + i18n.format_number(amount)
    if amount < 0:
        return "\u2212" + i18n.format_number(-amount)
    return "0"


def capfirst(text: Any) -> str:
    """``at 10 credits...`` → ``At 10 credits...`` (messages start lower-case)."""
    text = str(translate(text))
    return text[:1].upper() + text[1:] if text else text


def _label(labels: dict[str, i18n.Text], value: Any) -> str:
    key = getattr(value, "value", value)
    found = labels.get(str(key))
    return translate(found) if found is not None else str(key).replace("_", " ").capitalize()


#: Every filter, by the name templates use. Two modules once registered ``london`` with
#: different signatures and the last one won (a page crashed): :func:`register_filters` is the
#: only place filters are added, and it refuses a name that is already taken.
FILTERS: dict[str, Any] = {
    "london": london,
    "london_long": london_long,
    "london_day": london_day,
    "london_date": london_date,
    "london_time": london_time,
    "clock": clock,
    "month_name": month_name,
    "number": number,
    "credits": credits,
    "signed": signed,
    "capfirst": capfirst,
    "state_label": lambda v: _label(STATE_LABELS, v),
    "kind_label": lambda v: _label(KIND_LABELS, v),
    "role_label": lambda v: _label(ROLE_LABELS, v),
    "status_label": lambda v, kind="person": _label(STATUS_LABELS[kind], v),
    "account_type_label": lambda v: _label(ACCOUNT_TYPE_LABELS, v),
    "line_kind_label": lambda v: _label(LINE_KIND_LABELS, v),
    "describe_quantity": describe,
    "tr": lambda v: translate(v),
    "join_and": lambda items: i18n.format_list(list(items)),
    "describe_rate": describe_rate,
}


def register_filters(app: Flask) -> None:
    """Add every filter in :data:`FILTERS` (create_app calls it once); a name already taken
    (by Jinja or anyone else) is an error at start-up, not a wrong filter at render time."""
    for name, function in FILTERS.items():
        if name in app.jinja_env.filters:
            raise RuntimeError(f"a template filter named {name!r} is already registered")
        app.add_template_filter(function, name)
