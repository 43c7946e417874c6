"""Opening accounts and reading balances."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from credits.db import RetryTransaction, unique_violation, utcnow
from credits.ledger.chain import GENESIS_HASH
from credits.ledger.models import T_ACCOUNT, T_BALANCE, T_LANE, Account, AccountBalance, ChainLane
from credits.ledger.types import AccountType

#: Lanes of the hash chain (see models.py). Changing it later is safe: new lanes start at
#: the genesis hash and verify walks whatever lanes exist.
CHAIN_LANES = 8

#: The scheme's own accounts, created by :func:`bootstrap`.
ISSUANCE = "scheme:issuance"
VOUCHERS_OUTSTANDING = "scheme:vouchers_outstanding"
EXPIRED = "scheme:expired"
ADJUSTMENTS = "scheme:adjustments"
SETTLED = "scheme:settled"

_SCHEME_ACCOUNTS = (
    (ISSUANCE, AccountType.ISSUANCE, "Scheme issuance (credits created for volunteering)"),
    (VOUCHERS_OUTSTANDING, AccountType.VOUCHERS_OUTSTANDING, "Credits held in open vouchers"),
    (EXPIRED, AccountType.EXPIRED, "Expired credits (breakage)"),
    (ADJUSTMENTS, AccountType.ADJUSTMENTS, "Manual adjustments by officers"),
    (SETTLED, AccountType.SETTLED, "Credits settled with shops (paid for by the council)"),
)

_NO_FLOOR = frozenset(t for t in AccountType if t is not AccountType.MEMBER)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """An account as callers see it."""

    id: int
    code: str
    type: AccountType
    name: str
    owner_ref: str | None
    allow_negative: bool


def _info(row: Account) -> AccountInfo:
    assert row.id is not None
    return AccountInfo(
        id=row.id,
        code=row.code,
        type=AccountType(row.type),
        name=row.name,
        owner_ref=row.owner_ref,
        allow_negative=row.allow_negative,
    )


def open_account(
    session: Session,
    *,
    code: str,
    type: AccountType,
    name: str,
    owner_ref: str | None = None,
    hot_slots: int = 8,
) -> AccountInfo:
    """Return the account with ``code``, creating it (with zero balance) if it is new.

    Member accounts may never go negative and have one balance row; every other type may,
    and gets ``hot_slots`` balance rows. Asking again for an existing code returns it
    unchanged; asking for it with a different type is a programming error.
    """
    existing = session.execute(select(Account).where(T_ACCOUNT.c.code == code)).scalar_one_or_none()
    if existing is not None:
        if existing.type != type:
            raise ValueError(f"account {code} exists with type {existing.type}, not {type}")
        return _info(existing)
    allow_negative = type in _NO_FLOOR
    slots = max(1, hot_slots) if allow_negative else 1
    row = Account(
        code=code,
        type=type.value,
        name=name,
        owner_ref=owner_ref,
        allow_negative=allow_negative,
        slots=slots,
        created_at=utcnow(),
    )
    session.add(row)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "code"):
            # Someone opened it at the same moment: run the use case again and find theirs.
            raise RetryTransaction(f"account {code} opened concurrently") from exc
        raise
    assert row.id is not None
    session.execute(
        insert(AccountBalance),
        [
            {"account_id": row.id, "slot": s, "balance": 0, "allow_negative": allow_negative}
            for s in range(slots)
        ],
    )
    return _info(row)


def bootstrap(session: Session, *, hot_slots: int = 8) -> None:
    """Make sure the chain lanes and the scheme's own accounts exist (idempotent)."""
    have = set(session.execute(select(T_LANE.c.lane)).scalars())
    missing = [lane for lane in range(CHAIN_LANES) if lane not in have]
    if missing:
        session.execute(
            insert(ChainLane),
            [{"lane": lane, "seq": 0, "head_hash": GENESIS_HASH} for lane in missing],
        )
    for code, type_, name in _SCHEME_ACCOUNTS:
        open_account(session, code=code, type=type_, name=name, hot_slots=hot_slots)


def account_by_code(session: Session, code: str) -> AccountInfo | None:
    """The account with ``code``, or None."""
    row = session.execute(select(Account).where(T_ACCOUNT.c.code == code)).scalar_one_or_none()
    return None if row is None else _info(row)


def scheme_account(session: Session, code: str) -> AccountInfo:
    """One of the scheme's own accounts (``ISSUANCE``...); they exist after bootstrap."""
    info = account_by_code(session, code)
    if info is None:
        raise RuntimeError(f"scheme account {code} is missing: run `credits init-db`")
    return info


def balance(session: Session, account_id: int) -> int:
    """The stored balance of an account (the sum of its slot rows); 0 if it has none."""
    total = session.execute(
        select(func.coalesce(func.sum(T_BALANCE.c.balance), 0)).where(
            T_BALANCE.c.account_id == account_id
        )
    ).scalar_one()
    return int(total)


def balances(session: Session, account_ids: Iterable[int]) -> dict[int, int]:
    """Stored balances of several accounts at once (accounts not found are left out)."""
    ids = list(account_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(T_BALANCE.c.account_id, func.sum(T_BALANCE.c.balance))
        .where(T_BALANCE.c.account_id.in_(ids))
        .group_by(T_BALANCE.c.account_id)
    )
    return {int(a): int(b) for a, b in rows}
