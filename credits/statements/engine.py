"""The statement of a Europe/London month, for the whole scheme or one partner shop.

Everything is computed with a handful of set-based queries (sums grouped by account type,
entry kind, activity or shop over ``journal_entry.occurred_at`` in ``[starts_at, ends_at)``)
and never by walking postings in Python, so a month of a million postings costs a few
aggregate scans.

How the figures relate (the sign convention of credits.ledger: a posting's amount is added
to its account's balance, and all balances sum to zero):

- *Outstanding* credits are what the scheme still owes its volunteers: members' balances
  plus the vouchers outstanding account. Each figure below is the net effect on outstanding
  of one kind of entry in the month:
  ``issued`` (earn), ``redeemed`` (redeem: what shops took; the change stays outstanding),
  ``expired`` (lapsed balances moved to the expired account; an expired *voucher* returns
  its value to the member, so it does not change outstanding), ``reversals`` (reversal
  entries: a reversed redemption puts the shop's credits back) and ``adjustments``
  (everything else: offline double spends are paid to shops out of the adjustments account
  and leave outstanding alone). Hence, exactly:
  ``closing = opening + issued − redeemed − expired + reversals + adjustments``.
- The trial balance lists every account type's opening balance, the month's increases and
  decreases and its closing balance; each column sums to zero.
- Opening balances come from the previous month's close snapshot
  (credits.statements.snapshots) when it has one, and then only the month's own postings
  are read, however old the month; a closed month with no snapshot before it (the first
  month closed) takes its closing balances from its own snapshot instead, and its opening
  is those less the month's movements. Otherwise they are the stored balances (which `credits
  verify` proves equal to the sums of postings, and which the month close checks first)
  minus everything dated on or after the month's start.
- A shop is owed, for the month, the net of its account's movements (redemptions, less
  reversals, plus offline exceptions the scheme paid) at the month's reimbursement rate.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from credits import ledger
from credits.db import UTCDateTime
from credits.errors import NotFound
from credits.ledger.periods import LONDON, Month
from credits.ledger.types import AccountType, EntryKind
from credits.statements import snapshots
from credits.statements.rates import rate_for

if TYPE_CHECKING:
    from credits.settlement.figures import MonthSettlement

#: Account types in the order a trial balance lists them.
ACCOUNT_TYPES: tuple[AccountType, ...] = (
    AccountType.ISSUANCE,
    AccountType.MEMBER,
    AccountType.VOUCHERS_OUTSTANDING,
    AccountType.SHOP,
    AccountType.EXPIRED,
    AccountType.ADJUSTMENTS,
    AccountType.SETTLED,
)
_OUTSTANDING = (AccountType.MEMBER.value, AccountType.VOUCHERS_OUTSTANDING.value)
_SETTLEMENT = EntryKind.SETTLEMENT.value


@dataclass(frozen=True, slots=True)
class Outstanding:
    """Credits the scheme owes its volunteers at an instant."""

    members: int
    vouchers: int

    @property
    def total(self) -> int:
        return self.members + self.vouchers


@dataclass(frozen=True, slots=True)
class TrialBalanceLine:
    """One account type: balance at the start, the month's movements, balance at the end."""

    account_type: str
    opening: int
    increases: int
    decreases: int
    closing: int

    @property
    def movement(self) -> int:
        return self.increases - self.decreases


@dataclass(frozen=True, slots=True)
class TrialBalance:
    lines: tuple[TrialBalanceLine, ...]

    @property
    def total(self) -> int:
        """The sum of the closing balances: 0 whenever the ledger balances."""
        return sum(line.closing for line in self.lines)

    @property
    def opening_total(self) -> int:
        return sum(line.opening for line in self.lines)

    @property
    def movement_total(self) -> int:
        return sum(line.movement for line in self.lines)


@dataclass(frozen=True, slots=True)
class ActivityLine:
    """Credits issued for one activity (``activity_id`` None: earned outside an award)."""

    activity_id: int | None
    slug: str
    name: str
    awards: int
    credits: int


@dataclass(frozen=True, slots=True)
class ShopLine:
    """One shop's month: what it took, gave back, was paid for exceptions, and is owed for
    it (``net``, at the month's rate); and the credits of its settled in the month (earlier
    months' credits, paid by a settlement run approved in this month)."""

    shop_id: int
    name: str
    redemptions: int
    redeemed: int
    change: int
    reversed: int
    exceptions: int
    net: int
    owed_pence: int | None
    settled: int = 0


@dataclass(frozen=True, slots=True)
class VoucherFigures:
    """Vouchers in the month: counts and credits (these move within outstanding)."""

    issued_count: int
    issued: int
    redeemed_count: int
    cancelled_count: int
    cancelled: int
    expired_count: int
    expired: int


@dataclass(frozen=True, slots=True)
class SchemeFigures:
    opening: Outstanding
    issued: int
    by_activity: tuple[ActivityLine, ...]
    redeemed: int
    change_returned: int
    by_shop: tuple[ShopLine, ...]
    expired: int
    reversals: int
    adjustments: int
    closing: Outstanding
    vouchers: VoucherFigures
    owed_pence: int | None

    @property
    def identity_holds(self) -> bool:
        """opening + issued − redeemed − expired + reversals + adjustments = closing."""
        return (
            self.opening.total
            + self.issued
            - self.redeemed
            - self.expired
            + self.reversals
            + self.adjustments
            == self.closing.total
        )


@dataclass(frozen=True, slots=True)
class ShopStatementLine:
    """One movement on a shop's account: a redemption, a reversal of one, an offline
    exception the scheme paid, or a settlement (credits the council settled, paid by a
    settlement run). ``amount`` is signed (what it adds to the shop's balance)."""

    kind: str  # "redemption" | "reversal" | "exception" | "settlement"
    ref: str  # the redemption's or exception's id
    entry_id: int
    at: datetime
    voucher: str  # XXXX-XXXX
    amount: int
    face_value: int
    change: int
    terminal_id: int
    terminal: str
    offline: bool
    note: str

    @property
    def local_time(self) -> str:
        return self.at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class ShopStatement:
    shop_id: int
    name: str
    lines: tuple[ShopStatementLine, ...]
    opening_balance: int
    closing_balance: int
    totals: ShopLine


@dataclass(frozen=True, slots=True)
class Statement:
    """A month's statement: ``scheme`` figures, or one ``shop``'s (exactly one is set).

    ``trial_balance`` covers every account for the scheme; for a shop it covers only the
    month's entries that touched the shop's account (opening balances of those are not
    meaningful, so its lines open at 0 and close at the movement).
    """

    month: Month
    rate_pence_per_credit: int | None
    trial_balance: TrialBalance
    scheme: SchemeFigures | None = None
    shop: ShopStatement | None = None
    #: What was settled, paid and still owed (credits.settlement.figures): the scheme's
    #: figures with every shop, or the one shop's.
    settlement: MonthSettlement | None = None


_BOUNDS = """
SELECT min(id) FILTER (WHERE occurred_at < :ends), max(id) FILTER (WHERE occurred_at < :ends),
       min(id)
FROM journal_entry WHERE occurred_at >= :starts
"""


def _times(session: Session, month: Month) -> dict[str, Any]:
    """The month's bounds, and the range of entry ids dated in it (``lo``..``hi``) and on or
    after its start (``since``). The id ranges are only a hint for the planner — every query
    still filters on ``occurred_at`` — but they let PostgreSQL read just the month's postings
    through the (entry_id, account_id) index instead of scanning every posting ever made:
    entries are numbered in the order they are written, so a month's ids are nearly
    contiguous (a back-dated award only widens the range a little)."""
    times: dict[str, Any] = {"starts": month.starts_at, "ends": month.ends_at}
    lo, hi, since = session.execute(_stmt(_BOUNDS), times).one()  # type: ignore[call-overload]
    # No entries: empty ranges.
    times.update(
        lo=int(lo) if lo is not None else 0,
        hi=int(hi) if hi is not None else -1,
        since=int(since) if since is not None else 2**62,
    )
    return times


def _stmt(sql: str, *, ends: bool = True) -> object:
    params = [bindparam("starts", type_=UTCDateTime())]
    if ends:
        params.append(bindparam("ends", type_=UTCDateTime()))
    return text(sql).bindparams(*params)


def _work_mem(session: Session) -> None:
    """Give this read transaction's aggregates room to hash in memory (PostgreSQL): the
    default 4 MB spills a month's grouping to disk."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def build_statement(session: Session, month: Month, *, shop_id: int | None = None) -> Statement:
    """The statement of ``month`` for the scheme (``shop_id`` None) or one shop.

    Guarantees: integer credits and pence only; each trial balance column sums to zero when
    the ledger balances; for the scheme, ``closing = opening + issued − redeemed − expired
    + reversals + adjustments`` (:attr:`SchemeFigures.identity_holds`). Raises
    :class:`~credits.errors.NotFound` for an unknown shop. Reads only.
    """
    rate = rate_for(session, month)
    if shop_id is not None:
        return _shop_statement(session, month, shop_id, rate)
    return _scheme_statement(session, month, rate)


# --- the scheme -----------------------------------------------------------------------------

# One pass over the postings dated from the month's start: pre-aggregated per account on
# integer keys that are cheap to hash, then rolled up by account type — except shops, one line
# each. (Issuance is split by activity by _BY_ACTIVITY: looking the award up here probed the
# award index once per posting, 990 k times a month, for 37 k issuance postings: 1.5 s -> 1.05 s.)
_MOVEMENTS = """
SELECT a.type, CASE WHEN a.type = 'shop' THEN a.id END, m.kind, m.in_month,
       sum(m.net), sum(m.ups), sum(m.n)
FROM (
    SELECT p.account_id, e.kind,
           CASE WHEN e.occurred_at < :ends THEN 1 ELSE 0 END AS in_month,
           sum(p.amount) AS net, sum(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END) AS ups,
           count(*) AS n
    FROM journal_entry e
    JOIN posting p ON p.entry_id = e.id
    WHERE e.occurred_at >= :starts AND e.id >= :since AND p.entry_id >= :since
    GROUP BY p.account_id, e.kind, CASE WHEN e.occurred_at < :ends THEN 1 ELSE 0 END
) m
JOIN account a ON a.id = m.account_id
GROUP BY a.type, CASE WHEN a.type = 'shop' THEN a.id END, m.kind, m.in_month
"""

# The month's issuance postings of earn entries that carry an award, per activity (the
# rest of the month's issuance, earned outside an award, is what _MOVEMENTS has left over).
_BY_ACTIVITY = """
SELECT aw.activity_id, sum(p.amount), count(*)
FROM award aw
JOIN journal_entry e ON e.id = aw.entry_id
JOIN posting p ON p.entry_id = e.id
JOIN account a ON a.id = p.account_id
WHERE aw.entry_id BETWEEN :lo AND :hi AND p.entry_id BETWEEN :lo AND :hi
  AND e.kind = 'earn' AND a.type = 'issuance'
  AND e.occurred_at >= :starts AND e.occurred_at < :ends
GROUP BY aw.activity_id
"""

# The snapshot path: only the month's own postings, read through its entry ids.
_MOVEMENTS_IN_MONTH = _MOVEMENTS.replace(
    "WHERE e.occurred_at >= :starts AND e.id >= :since AND p.entry_id >= :since",
    "WHERE e.occurred_at >= :starts AND e.occurred_at < :ends"
    " AND e.id BETWEEN :lo AND :hi AND p.entry_id BETWEEN :lo AND :hi",
)
assert _MOVEMENTS_IN_MONTH != _MOVEMENTS

_STORED = """
SELECT a.type, sum(b.balance) FROM account_balance b JOIN account a ON a.id = b.account_id
GROUP BY a.type
"""

_ONE_ACCOUNT = """
SELECT e.kind, sum(p.amount), count(*)
FROM posting p JOIN journal_entry e ON e.id = p.entry_id
WHERE p.account_id = :account AND p.entry_id BETWEEN :lo AND :hi
  AND e.occurred_at >= :starts AND e.occurred_at < :ends
GROUP BY e.kind
"""

_CHANGE_BY_SHOP = """
SELECT r.shop_id, sum(r.change)
FROM redemption r JOIN journal_entry e ON e.id = r.entry_id
WHERE e.occurred_at >= :starts AND e.occurred_at < :ends
  AND r.entry_id BETWEEN :lo AND :hi AND e.id BETWEEN :lo AND :hi
GROUP BY r.shop_id
"""


def _scheme_statement(session: Session, month: Month, rate: int | None) -> Statement:
    # With the previous month's close snapshot, opening balances come from it and only the
    # month's postings are read; otherwise from the stored balances less everything dated
    # since the month began. Both give the same statement (tested byte for byte).
    previous = month.previous()
    opening_snapshot = (
        snapshots.balances_by_type(session, previous)
        if snapshots.has_snapshot(session, previous)
        else None
    )
    # A closed month without a snapshot before it (the first month ever closed) still has
    # its own: closing balances from it, opening = closing less the month's movements.
    closing_snapshot = (
        snapshots.balances_by_type(session, month)
        if opening_snapshot is None and snapshots.has_snapshot(session, month)
        else None
    )
    from_snapshot = opening_snapshot is not None or closing_snapshot is not None
    # The snapshot paths need only the month's own ids (not those of every later entry).
    times = snapshots.month_ids(session, month) if from_snapshot else _times(session, month)
    # (type, kind) -> [net, increases, count] for the month; type -> net after the month.
    in_month: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    after: dict[str, int] = defaultdict(int)
    # shop account -> kind -> (net, count) in the month
    shop_moves: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    _work_mem(session)
    movements = _MOVEMENTS_IN_MONTH if from_snapshot else _MOVEMENTS
    rows = session.execute(_stmt(movements), times)  # type: ignore[call-overload]
    # activity id (None: earned outside an award) -> [entries, credits] issued in the month
    activities: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    earned = [0, 0]  # every issuance posting of the month's earn entries: [count, credits]
    for type_, shop_account, kind, flag, net, ups, n in rows:
        if int(flag) and type_ == AccountType.ISSUANCE.value and kind == EntryKind.EARN.value:
            earned[0] += int(n)
            earned[1] -= int(net)
        if int(flag):
            moved = in_month[(str(type_), str(kind))]
            moved[0] += int(net)
            moved[1] += int(ups)
            moved[2] += int(n)
            if shop_account is not None:
                shop_moves[int(shop_account)][str(kind)] = (int(net), int(n))
        else:
            after[str(type_)] += int(net)
    for activity_id, net, n in session.execute(_stmt(_BY_ACTIVITY), times):  # type: ignore[call-overload]
        activities[int(activity_id)] = [int(n), -int(net)]
    outside = [earned[0] - sum(c[0] for c in activities.values()),
               earned[1] - sum(c[1] for c in activities.values())]  # fmt: skip
    if outside[0]:
        activities[None] = outside
    stored = {} if from_snapshot else {str(t): int(b) for t, b in session.execute(text(_STORED))}

    lines = []
    for t in ACCOUNT_TYPES:
        net = sum(v[0] for (tt, _), v in in_month.items() if tt == t.value)
        ups = sum(v[1] for (tt, _), v in in_month.items() if tt == t.value)
        if opening_snapshot is not None:
            closing = opening_snapshot.get(t.value, 0) + net
        elif closing_snapshot is not None:
            closing = closing_snapshot.get(t.value, 0)
        else:
            closing = stored.get(t.value, 0) - after[t.value]
        lines.append(
            TrialBalanceLine(
                account_type=t.value,
                opening=closing - net,
                increases=ups,
                decreases=ups - net,
                closing=closing,
            )
        )
    tb = TrialBalance(tuple(lines))
    by_type = {line.account_type: line for line in lines}

    def effect(kind: EntryKind) -> int:
        """Net effect of one kind of entry on outstanding credits in the month."""
        return sum(
            in_month[(t, kind.value)][0] for t in _OUTSTANDING if (t, kind.value) in in_month
        )

    def cell(type_: AccountType, kind: EntryKind) -> list[int]:
        return in_month.get((type_.value, kind.value), [0, 0, 0])

    issued = effect(EntryKind.EARN)
    redeemed = -effect(EntryKind.REDEEM)
    expired = -effect(EntryKind.EXPIRE)
    reversals = effect(EntryKind.REVERSAL)
    adjustments = sum(
        effect(k)
        for k in EntryKind
        if k not in (EntryKind.EARN, EntryKind.REDEEM, EntryKind.EXPIRE, EntryKind.REVERSAL)
    )
    vo = AccountType.VOUCHERS_OUTSTANDING
    vouchers = VoucherFigures(
        issued_count=cell(vo, EntryKind.VOUCHER_ISSUE)[2],
        issued=cell(vo, EntryKind.VOUCHER_ISSUE)[0],
        redeemed_count=cell(vo, EntryKind.REDEEM)[2],
        cancelled_count=cell(vo, EntryKind.CANCEL)[2],
        cancelled=-cell(vo, EntryKind.CANCEL)[0],
        expired_count=cell(vo, EntryKind.EXPIRE)[2],
        expired=-cell(vo, EntryKind.EXPIRE)[0],
    )
    shops = _shop_lines(session, times, shop_moves, rate)
    settlement = _settlement(
        session,
        month,
        {
            account: sum(net for kind, (net, _) in moves.items() if kind != _SETTLEMENT)
            for account, moves in shop_moves.items()
        },
    )
    scheme = SchemeFigures(
        opening=Outstanding(
            members=by_type["member"].opening, vouchers=by_type["vouchers_outstanding"].opening
        ),
        issued=issued,
        by_activity=_activity_lines(session, activities),
        redeemed=redeemed,
        change_returned=cell(AccountType.MEMBER, EntryKind.REDEEM)[0],
        by_shop=shops,
        expired=expired,
        reversals=reversals,
        adjustments=adjustments,
        closing=Outstanding(
            members=by_type["member"].closing, vouchers=by_type["vouchers_outstanding"].closing
        ),
        vouchers=vouchers,
        owed_pence=None if rate is None else sum(s.owed_pence or 0 for s in shops),
    )
    return Statement(
        month=month,
        rate_pence_per_credit=rate,
        trial_balance=tb,
        scheme=scheme,
        settlement=settlement,
    )


def _settlement(
    session: Session, month: Month, nets: dict[int, int], shop_id: int | None = None
) -> MonthSettlement:
    """The month's settlement figures; ``nets`` are the shop accounts' movements in the month
    without settlements, which the statement has read already."""
    from credits.settlement.figures import month_figures

    return month_figures(session, month, shop_id=shop_id, known={month: nets})


def _activity_lines(
    session: Session, activities: dict[int | None, list[int]]
) -> tuple[ActivityLine, ...]:
    names = {
        int(i): (str(slug), str(name))
        for i, slug, name in session.execute(text("SELECT id, slug, name FROM activity"))
    }
    lines = [
        ActivityLine(
            activity_id=aid,
            slug=names[aid][0] if aid in names else "",
            name=names[aid][1] if aid in names else "Credits earned outside an award",
            awards=n,
            credits=credits,
        )
        for aid, (n, credits) in activities.items()
    ]
    # Named activities by slug; credits earned outside awards (seeded, migrated) last.
    return tuple(sorted(lines, key=lambda x: (x.activity_id is None, x.slug)))


def _shop_lines(
    session: Session,
    times: dict[str, Any],
    moves: dict[int, dict[str, tuple[int, int]]],
    rate: int | None,
) -> tuple[ShopLine, ...]:
    change = {
        int(s): int(c)
        for s, c in session.execute(_stmt(_CHANGE_BY_SHOP), times)  # type: ignore[call-overload]
    }
    shops = session.execute(
        text("SELECT id, name, ledger_account_id FROM shop ORDER BY name, id")
    ).all()
    lines = []
    for sid, name, account_id in shops:
        m = moves.get(int(account_id), {})
        lines.append(_shop_line(int(sid), str(name), m, change.get(int(sid), 0), rate))
    return tuple(lines)


def _shop_line(
    shop_id: int, name: str, moves: dict[str, tuple[int, int]], change: int, rate: int | None
) -> ShopLine:
    redeemed, count = moves.get(EntryKind.REDEEM.value, (0, 0))
    reversed_ = -moves.get(EntryKind.REVERSAL.value, (0, 0))[0]
    settled = -moves.get(_SETTLEMENT, (0, 0))[0]
    # What the shop is owed for the month: its movements, settlements (paying for earlier
    # months) left out.
    net = sum(v for kind, (v, _) in moves.items() if kind != _SETTLEMENT)
    # Everything that is neither a redemption nor its reversal: offline exceptions paid out
    # of adjustments (and any officer's adjustment to a shop).
    exceptions = net - redeemed + reversed_
    return ShopLine(
        shop_id=shop_id,
        name=name,
        redemptions=count,
        redeemed=redeemed,
        change=change,
        reversed=reversed_,
        exceptions=exceptions,
        net=net,
        owed_pence=None if rate is None else net * rate,
        settled=settled,
    )


# --- one shop -------------------------------------------------------------------------------

_SHOP_REDEMPTIONS = """
SELECT 'redemption', r.id, e.occurred_at, v.reference, r.amount, r.face_value, r.change,
       r.terminal_id, t.name, r.offline_accepted_at IS NOT NULL, r.reversed_at IS NOT NULL, e.id
FROM redemption r
JOIN journal_entry e ON e.id = r.entry_id
JOIN voucher v ON v.id = r.voucher_id
JOIN terminal t ON t.id = r.terminal_id
WHERE r.shop_id = :shop AND e.occurred_at >= :starts AND e.occurred_at < :ends
UNION ALL
SELECT 'reversal', r.id, e.occurred_at, v.reference, -r.amount, r.face_value, r.change,
       r.terminal_id, t.name, r.offline_accepted_at IS NOT NULL, 1 = 1, e.id
FROM redemption r
JOIN journal_entry e ON e.id = r.reversal_entry_id
JOIN voucher v ON v.id = r.voucher_id
JOIN terminal t ON t.id = r.terminal_id
WHERE r.shop_id = :shop AND e.occurred_at >= :starts AND e.occurred_at < :ends
UNION ALL
SELECT 'exception', x.id, e.occurred_at, v.reference, x.amount, v.face_value, 0,
       x.terminal_id, t.name, 1 = 1, 1 = 0, e.id
FROM redemption_exception x
JOIN journal_entry e ON e.id = x.entry_id
JOIN voucher v ON v.id = x.voucher_id
JOIN terminal t ON t.id = x.terminal_id
WHERE x.shop_id = :shop AND e.occurred_at >= :starts AND e.occurred_at < :ends
UNION ALL
SELECT 'settlement', CAST(l.id AS VARCHAR(32)), e.occurred_at, l.reference, -l.credits, 0, 0,
       0, '', 1 = 0, 1 = 0, e.id
FROM settlement_line l
JOIN journal_entry e ON e.id = l.entry_id
WHERE l.shop_id = :shop AND e.occurred_at >= :starts AND e.occurred_at < :ends
"""

_SHOP_TRIAL = """
SELECT a.type, sum(p.amount), sum(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END)
FROM journal_entry e
JOIN posting p ON p.entry_id = e.id
JOIN account a ON a.id = p.account_id
WHERE e.occurred_at >= :starts AND e.occurred_at < :ends AND e.id BETWEEN :lo AND :hi
  AND e.id IN (SELECT p2.entry_id FROM posting p2 WHERE p2.account_id = :account
               AND p2.entry_id BETWEEN :lo AND :hi)
GROUP BY a.type
"""

_ACCOUNT_AFTER = """
SELECT coalesce(sum(p.amount), 0) FROM posting p JOIN journal_entry e ON e.id = p.entry_id
WHERE p.account_id = :account AND e.occurred_at >= :starts
"""


def _shop_statement(session: Session, month: Month, shop_id: int, rate: int | None) -> Statement:
    shop = session.execute(
        text("SELECT id, name, ledger_account_id FROM shop WHERE id = :id"), {"id": shop_id}
    ).first()
    if shop is None or shop.ledger_account_id is None:
        raise NotFound(f"there is no shop {shop_id}")
    account = int(shop.ledger_account_id)
    month_times = _times(session, month)
    times = {**month_times, "shop": shop_id, "account": account}

    rows = session.execute(
        _stmt(_SHOP_REDEMPTIONS),  # type: ignore[call-overload]
        times,
    )
    lines = []
    for kind, ref, at, reference, amount, face, change, tid, tname, offline, reversed_, eid in rows:
        at = _aware(at)
        note = ""
        if kind == "redemption" and reversed_:
            note = "reversed later"
        elif kind == "reversal":
            note = "redemption reversed by the council"
        elif kind == "exception":
            note = "accepted offline after the voucher was spent or cancelled: paid by the scheme"
        elif kind == "settlement":
            note = f"settled by the council: payment {reference}"
        lines.append(
            ShopStatementLine(
                kind=str(kind),
                ref=str(ref),
                entry_id=int(eid),
                at=at,
                voucher="" if kind == "settlement" else f"{reference[:4]}-{reference[4:]}",
                amount=int(amount),
                face_value=int(face),
                change=int(change) if kind == "redemption" else 0,
                terminal_id=int(tid),
                terminal=str(tname),
                offline=bool(offline),
                note=note,
            )
        )
    lines.sort(key=lambda x: (x.at, x.entry_id))

    tb_lines = {}
    for type_, net, ups in session.execute(_stmt(_SHOP_TRIAL), times):  # type: ignore[call-overload]
        tb_lines[str(type_)] = TrialBalanceLine(
            account_type=str(type_),
            opening=0,
            increases=int(ups),
            decreases=int(ups) - int(net),
            closing=int(net),
        )
    tb = TrialBalance(tuple(tb_lines[t.value] for t in ACCOUNT_TYPES if t.value in tb_lines))

    # Net movements on the shop's account by kind, from the ledger itself (not the lines):
    # the owed figure must be the ledger's even if a row were missing.
    ledger_moves = {
        str(kind): (int(net), int(n))
        for kind, net, n in session.execute(_stmt(_ONE_ACCOUNT), times)  # type: ignore[call-overload]
    }
    change = sum(line.change for line in lines if line.kind == "redemption")
    totals = _shop_line(shop_id, str(shop.name), ledger_moves, change, rate)

    previous = month.previous()
    moved = sum(net for net, _ in ledger_moves.values())
    if snapshots.has_snapshot(session, previous):
        # The previous month's snapshot plus the month's movements: no later postings read.
        opening = snapshots.account_balance_at(session, previous, account)
        closing = opening + moved
    elif snapshots.has_snapshot(session, month):
        # The month's own snapshot less its movements (the first month closed).
        closing = snapshots.account_balance_at(session, month, account)
        opening = closing - moved
    else:
        after = int(session.execute(_stmt(_ACCOUNT_AFTER, ends=False), times).scalar_one())  # type: ignore[call-overload]
        closing_after = int(
            session.execute(
                _stmt(_ACCOUNT_AFTER, ends=False),
                {"account": account, "starts": month.ends_at},
            ).scalar_one()  # type: ignore[call-overload]
        )
        current = ledger.balance(session, account)
        opening, closing = current - after, current - closing_after
    statement = ShopStatement(
        shop_id=shop_id,
        name=str(shop.name),
        lines=tuple(lines),
        opening_balance=opening,
        closing_balance=closing,
        totals=totals,
    )
    return Statement(
        month=month,
        rate_pence_per_credit=rate,
        trial_balance=tb,
        shop=statement,
        settlement=_settlement(session, month, {account: totals.net}, shop_id),
    )


def _aware(value: object) -> datetime:
    """A timestamp from a raw query, aware in UTC (SQLite returns naive text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
