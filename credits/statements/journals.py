"""A month's movements as a plain-text accounting journal: hledger or beancount.

The journal opens with one "Opening balances" transaction on the month's first London day,
then lists every entry of the month (London date, entry id, memo) with its postings, in the
ledger's own sign convention (a posting adds to its account). Commodity: ``CREDITS``.

Account names come from the account's type and owner, so a reader of the journal alone can
tell a shop from a member::

    issuance               Equity:Issuance
    member:<person id>     Liabilities:Members:Member-<person id>
    vouchers_outstanding   Liabilities:Vouchers
    shop:<shop id>         Liabilities:Shops:Shop-<shop id>
    expired                Income:Expired
    adjustments            Expenses:Adjustments
    settled                Expenses:Settled       (credits the council has settled with shops)

A shop's journal holds only the entries that touched the shop; its opening transaction
balances the shop's opening balance against ``Equity:Opening-Balances``.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from credits.db import UTCDateTime
from credits.ledger.periods import LONDON
from credits.statements.engine import Statement, _aware

COMMODITY = "CREDITS"
OPENING_EQUITY = "Equity:Opening-Balances"
_ROOTS = {
    "issuance": "Equity:Issuance",
    "vouchers_outstanding": "Liabilities:Vouchers",
    "expired": "Income:Expired",
    "adjustments": "Expenses:Adjustments",
    "settled": "Expenses:Settled",
}


def account_name(code: str, type_: str) -> str:
    """The journal account name of a ledger account (see the module docstring)."""
    if type_ == "member":
        return f"Liabilities:Members:Member-{_suffix(code)}"
    if type_ == "shop":
        return f"Liabilities:Shops:Shop-{_suffix(code)}"
    return _ROOTS.get(type_, f"Equity:Other:{_clean(code)}")


def _suffix(code: str) -> str:
    return _clean(code.split(":", 1)[-1])


def _clean(part: str) -> str:
    cleaned = "".join(c if c.isascii() and c.isalnum() else "-" for c in part).strip("-")
    return cleaned[:1].upper() + cleaned[1:] if cleaned else "X"


_ENTRIES = """
SELECT e.id, e.occurred_at, e.kind, e.memo, p.account_id, p.amount
FROM journal_entry e JOIN posting p ON p.entry_id = e.id
WHERE e.occurred_at >= :starts AND e.occurred_at < :ends {shop}
ORDER BY e.occurred_at, e.id, p.account_id
"""

_OPENING = """
SELECT a.id, coalesce(b.stored, 0) - coalesce(l.later, 0)
FROM account a
LEFT JOIN (SELECT account_id, sum(balance) AS stored FROM account_balance GROUP BY account_id) b
       ON b.account_id = a.id
LEFT JOIN (SELECT p.account_id, sum(p.amount) AS later FROM posting p
           JOIN journal_entry e ON e.id = p.entry_id
           WHERE e.occurred_at >= :starts GROUP BY p.account_id) l
       ON l.account_id = a.id
{shop}
"""


def journal(session: Session, statement: Statement, fmt: str) -> str:
    """The month of ``statement`` as a journal in ``fmt`` (``hledger`` or ``beancount``)."""
    if fmt not in ("hledger", "beancount"):
        raise ValueError(f"unknown journal format {fmt!r}")
    month = statement.month
    params: dict[str, object] = {"starts": month.starts_at, "ends": month.ends_at}
    shop_account: int | None = None
    if statement.shop is not None:
        shop_account = int(
            session.execute(
                text("SELECT ledger_account_id FROM shop WHERE id = :id"),
                {"id": statement.shop.shop_id},
            ).scalar_one()
        )
        params["account"] = shop_account
    accounts = {
        int(i): account_name(str(c), str(t))
        for i, c, t in session.execute(text("SELECT id, code, type FROM account"))
    }
    times = [bindparam("starts", type_=UTCDateTime()), bindparam("ends", type_=UTCDateTime())]
    entry_filter = (
        "AND e.id IN (SELECT entry_id FROM posting WHERE account_id = :account)"
        if shop_account is not None
        else ""
    )
    rows = session.execute(
        text(_ENTRIES.format(shop=entry_filter)).bindparams(*times), params
    ).all()
    opening_filter = "WHERE a.id = :account" if shop_account is not None else ""
    opening = {
        int(a): int(v)
        for a, v in session.execute(
            text(_OPENING.format(shop=opening_filter)).bindparams(times[0]),
            {k: v for k, v in params.items() if k != "ends"},
        )
        if int(v) != 0
    }
    used = {accounts[a] for a in opening} | {accounts[int(r[4])] for r in rows}
    if shop_account is not None:
        used |= {accounts[shop_account], OPENING_EQUITY}
    first_day = month.starts_at.astimezone(LONDON).date()

    # (entry id, date, kind, memo, [(account, amount)])
    entries: list[tuple[int, str, str, str, list[tuple[str, int]]]] = []
    by_id: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for entry_id, at, kind, memo, account_id, amount in rows:
        eid = int(entry_id)
        if eid not in by_id:
            day = _aware(at).astimezone(LONDON).date().isoformat()
            entries.append((eid, day, str(kind), str(memo), by_id[eid]))
        by_id[eid].append((accounts[int(account_id)], int(amount)))

    opening_lines = sorted((accounts[a], v) for a, v in opening.items())
    if shop_account is not None:
        total = sum(v for _, v in opening_lines)
        if total:
            opening_lines.append((OPENING_EQUITY, -total))
    title = f"Cooperative Credits statement {month}" + (
        f", shop {statement.shop.shop_id}" if statement.shop is not None else ""
    )
    if fmt == "hledger":
        return _hledger(title, first_day.isoformat(), sorted(used), opening_lines, entries)
    return _beancount(title, first_day.isoformat(), sorted(used), opening_lines, entries)


def _hledger(
    title: str,
    first_day: str,
    accounts: list[str],
    opening: list[tuple[str, int]],
    entries: list[tuple[int, str, str, str, list[tuple[str, int]]]],
) -> str:
    out = [f"; {title}", f"commodity 1. {COMMODITY}", ""]
    out += [f"account {a}" for a in accounts]
    out.append("")
    if opening:
        out.append(f"{first_day} Opening balances")
        out += [f"    {a}  {v} {COMMODITY}" for a, v in opening]
        out.append("")
    for eid, day, kind, memo, postings in entries:
        # ';' starts a comment in hledger: keep the memo on the description line.
        out.append(f"{day} ({eid}) {_one_line(memo).replace(';', ',')}  ; kind:{kind}")
        out += [f"    {a}  {v} {COMMODITY}" for a, v in postings]
        out.append("")
    return "\n".join(out)


def _beancount(
    title: str,
    first_day: str,
    accounts: list[str],
    opening: list[tuple[str, int]],
    entries: list[tuple[int, str, str, str, list[tuple[str, int]]]],
) -> str:
    out = [
        f"; {title}",
        f'option "title" "{_quote(title)}"',
        f'option "operating_currency" "{COMMODITY}"',
        "",
    ]
    out += [f"{first_day} open {a} {COMMODITY}" for a in accounts]
    out.append("")
    if opening:
        out.append(f'{first_day} * "Opening balances"')
        out += [f"  {a}  {v} {COMMODITY}" for a, v in opening]
        out.append("")
    for eid, day, kind, memo, postings in entries:
        out.append(f'{day} * "{_quote(_one_line(memo))}"')
        out.append(f"  entry_id: {eid}")
        out.append(f'  kind: "{kind}"')
        out += [f"  {a}  {v} {COMMODITY}" for a, v in postings]
        out.append("")
    return "\n".join(out)


def _one_line(text_: str) -> str:
    return " ".join(text_.split())


def _quote(text_: str) -> str:
    return text_.replace("\\", "\\\\").replace('"', '\\"')
