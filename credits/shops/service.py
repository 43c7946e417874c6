"""Use cases for shops and terminals. Each takes a session inside a unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.accounts.identity import Principal, mint_token, normalise_email
from credits.accounts.models import ApiToken, Role
from credits.db import unique_violation, utcnow
from credits.errors import Conflict, NotFound, ValidationFailed
from credits.i18n import T
from credits.shops.models import Shop, Terminal

#: How stale a terminal's last_seen_at may get before a request refreshes it.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)

#: The council's defaults for a new terminal's offline limits.
DEFAULT_FLOOR_LIMIT = 20
DEFAULT_MAX_OFFLINE_COUNT = 10
DEFAULT_MAX_OFFLINE_TOTAL = 100
#: ... and its monthly exception ceiling (docs/redemption.md, rule 5): the offline claims of
#: vouchers spent elsewhere the scheme pays without an officer, per London month.
DEFAULT_EXCEPTIONS_PER_MONTH = 3
DEFAULT_EXCEPTION_CREDITS_PER_MONTH = 60


class ShopExists(Conflict):
    code = "shop_exists"
    title = T("There is already a shop with that name")


class TerminalExists(Conflict):
    code = "terminal_exists"
    title = T("That shop already has a terminal with that name")


@dataclass(frozen=True, slots=True)
class OfflineLimits:
    """What a terminal may accept while it cannot reach the ledger, and how many of its
    offline claims on vouchers spent elsewhere the scheme pays each month without an officer
    (``None``: the default for a new terminal, unchanged for an existing one)."""

    floor_limit: int = DEFAULT_FLOOR_LIMIT
    max_count: int = DEFAULT_MAX_OFFLINE_COUNT
    max_total: int = DEFAULT_MAX_OFFLINE_TOTAL
    exceptions_per_month: int | None = None
    exception_credits_per_month: int | None = None

    def validate(self) -> None:
        """Refuse limits that are not whole numbers in range."""
        problems: dict[str, list[str]] = {}
        for field, value, top in (
            ("floor_limit", self.floor_limit, 1_000_000),
            ("max_count", self.max_count, 10_000),
            ("max_total", self.max_total, 100_000_000),
            ("exceptions_per_month", self.exceptions_per_month, 10_000),
            ("exception_credits_per_month", self.exception_credits_per_month, 100_000_000),
        ):
            if value is None and field.startswith("exception"):
                continue
            if type(value) is not int or not 0 <= value <= top:
                problems[field] = [T("Must be a whole number from 0 to %(top)s.", top=str(top))]
        if not problems and self.floor_limit > self.max_total:
            problems["floor_limit"] = [T("Cannot be more than the offline total.")]
        if problems:
            raise ValidationFailed(T("the offline limits are not valid"), errors=problems)


def _clean_name(value: str | None, field: str, limit: int) -> str:
    name = " ".join((value or "").split())
    if not 0 < len(name) <= limit:
        raise ValidationFailed(
            T("a %(field)s is required (at most %(count)s characters)", field=field, count=limit),
            errors={field: [T("Required, at most %(count)s characters.", count=limit)]},
        )
    return name


def create_shop(
    session: Session,
    by: Any,
    *,
    name: str,
    address: str = "",
    contact_email: str | None = None,
) -> Shop:
    """Register a partner shop and open its ledger account. ``by`` is the Principal (or
    audit.Actor) doing it: it is attributed and audited."""
    name = _clean_name(name, "name", 120)
    address = " ".join((address or "").split())[:300]
    email = normalise_email(contact_email) if contact_email else None
    if session.execute(select(Shop.id).where(func.lower(Shop.name) == name.lower())).first():  # type: ignore[arg-type]
        raise ShopExists(T("there is already a shop called '%(name)s'", name=name))
    shop = Shop(
        name=name, address=address, contact_email=email, created_at=utcnow(), created_by=by.actor
    )
    session.add(shop)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "name"):
            raise ShopExists(T("there is already a shop called '%(name)s'", name=name)) from exc
        raise
    # The account is named after the shop's id, so it is opened once the row has one (as a
    # member's is); both happen in this one transaction.
    shop.ledger_account_id = ledger.open_account(
        session,
        code=f"shop:{shop.id}",
        type=ledger.AccountType.SHOP,
        name=f"Shop: {name}",
        owner_ref=f"shop:{shop.id}",
    ).id
    session.add(shop)
    session.flush()
    audit.record(session, by, "shop.create", f"shop:{shop.id}", name=name)
    return shop


def get_shop(session: Session, shop_id: int) -> Shop:
    """The shop, or NotFound."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"no shop {shop_id}")
    return shop


def list_shops(session: Session, *, include_inactive: bool = True) -> list[Shop]:
    """Every shop, by name."""
    query = select(Shop).order_by(Shop.name)
    if not include_inactive:
        query = query.where(Shop.active.is_(True))  # type: ignore[attr-defined]
    return list(session.execute(query).scalars())


def shop_names(session: Session) -> list[tuple[int, str]]:
    """Every shop's id and name, by name (for a page's "shop" filter)."""
    t = Shop.__table__  # type: ignore[attr-defined]
    return [(int(i), n) for i, n in session.execute(select(t.c.id, t.c.name).order_by(t.c.name))]


def update_shop(
    session: Session,
    by: Any,
    shop_id: int,
    *,
    name: str | None = None,
    address: str | None = None,
    contact_email: str | None = None,
    active: bool | None = None,
) -> Shop:
    """Change a shop's details; deactivating it stops every one of its terminals."""
    shop = get_shop(session, shop_id)
    if name is not None:
        new = _clean_name(name, "name", 120)
        clash = session.execute(
            select(Shop.id).where(func.lower(Shop.name) == new.lower(), Shop.id != shop_id)  # type: ignore[arg-type]
        ).first()
        if clash:
            raise ShopExists(T("there is already a shop called '%(name)s'", name=new))
        shop.name = new
    if address is not None:
        shop.address = " ".join(address.split())[:300]
    if contact_email is not None:
        shop.contact_email = normalise_email(contact_email) if contact_email else None
    if active is not None:
        shop.active = active
    session.add(shop)
    session.flush()
    changes = {"name": name, "address": address, "contact_email": contact_email, "active": active}
    audit.record(session, by, "shop.update", f"shop:{shop_id}", **changes)
    return shop


def shop_account_id(session: Session, shop_id: int) -> int:
    """The ledger account a shop's redemptions are credited to."""
    account_id = get_shop(session, shop_id).ledger_account_id
    assert account_id is not None, "a shop's account is opened when the shop is created"
    return account_id


def add_terminal(
    session: Session,
    by: Any,
    shop_id: int,
    *,
    name: str,
    limits: OfflineLimits | None = None,
) -> tuple[Terminal, str]:
    """Add a terminal to a shop; return it and its token (shown only now)."""
    shop_name = get_shop(session, shop_id).name
    name = _clean_name(name, "name", 80)
    limits = limits or OfflineLimits()
    limits.validate()
    _refuse_duplicate_terminal(session, shop_id, name, shop_name)
    terminal = Terminal(
        shop_id=shop_id,
        name=name,
        floor_limit=limits.floor_limit,
        max_offline_count=limits.max_count,
        max_offline_total=limits.max_total,
        exceptions_per_month=(
            DEFAULT_EXCEPTIONS_PER_MONTH
            if limits.exceptions_per_month is None
            else limits.exceptions_per_month
        ),
        exception_credits_per_month=(
            DEFAULT_EXCEPTION_CREDITS_PER_MONTH
            if limits.exception_credits_per_month is None
            else limits.exception_credits_per_month
        ),
        created_at=utcnow(),
        created_by=by.actor,
    )
    session.add(terminal)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "name"):  # lost a race with the same request
            raise TerminalExists(
                T("%(shop)s already has a terminal called '%(name)s'", shop=shop_name, name=name)
            ) from exc
        raise
    audit.record(
        session,
        by,
        "terminal.create",
        f"terminal:{terminal.id}",
        shop_id=shop_id,
        name=name,
        floor_limit=limits.floor_limit,
        max_count=limits.max_count,
        max_total=limits.max_total,
        exceptions_per_month=terminal.exceptions_per_month,
        exception_credits_per_month=terminal.exception_credits_per_month,
    )
    return terminal, _issue_terminal_token(session, terminal, by.actor)


def _refuse_duplicate_terminal(
    session: Session, shop_id: int, name: str, shop_name: str, *, except_id: int | None = None
) -> None:
    query = select(Terminal.id).where(
        Terminal.shop_id == shop_id,  # type: ignore[arg-type]
        func.lower(Terminal.name) == name.lower(),  # type: ignore[arg-type]
    )
    if except_id is not None:
        query = query.where(Terminal.id != except_id)  # type: ignore[arg-type]
    if session.execute(query).first():
        raise TerminalExists(
            T("%(shop)s already has a terminal called '%(name)s'", shop=shop_name, name=name)
        )


def _issue_terminal_token(session: Session, terminal: Terminal, actor: str) -> str:
    assert terminal.id is not None
    token, secret = mint_token(
        session, role=Role.TERMINAL, name=f"terminal {terminal.id}", created_by=actor
    )
    token.terminal_id = terminal.id
    session.add(token)
    session.flush()
    return secret


def get_terminal(session: Session, terminal_id: int) -> Terminal:
    """The terminal, or NotFound."""
    terminal = session.get(Terminal, terminal_id)
    if terminal is None:
        raise NotFound(f"no terminal {terminal_id}")
    return terminal


def list_terminals(session: Session, shop_id: int) -> list[Terminal]:
    """A shop's terminals, by name."""
    get_shop(session, shop_id)
    return list(
        session.execute(
            select(Terminal).where(Terminal.shop_id == shop_id).order_by(Terminal.name)  # type: ignore[arg-type]
        ).scalars()
    )


def update_terminal(
    session: Session,
    by: Any,
    terminal_id: int,
    *,
    name: str | None = None,
    limits: OfflineLimits | None = None,
    active: bool | None = None,
) -> Terminal:
    """Rename a terminal, change its offline limits, or (de)activate it."""
    terminal = get_terminal(session, terminal_id)
    if name is not None:
        name = _clean_name(name, "name", 80)
        shop_name = get_shop(session, terminal.shop_id).name
        _refuse_duplicate_terminal(
            session, terminal.shop_id, name, shop_name, except_id=terminal_id
        )
        terminal.name = name
    if limits is not None:
        limits.validate()
        terminal.floor_limit = limits.floor_limit
        terminal.max_offline_count = limits.max_count
        terminal.max_offline_total = limits.max_total
        if limits.exceptions_per_month is not None:
            terminal.exceptions_per_month = limits.exceptions_per_month
        if limits.exception_credits_per_month is not None:
            terminal.exception_credits_per_month = limits.exception_credits_per_month
    if active is not None:
        terminal.active = active
    session.add(terminal)
    session.flush()
    audit.record(
        session,
        by,
        "terminal.update",
        f"terminal:{terminal_id}",
        name=name,
        active=active,
        floor_limit=limits.floor_limit if limits else None,
        max_count=limits.max_count if limits else None,
        max_total=limits.max_total if limits else None,
        exceptions_per_month=limits.exceptions_per_month if limits else None,
        exception_credits_per_month=limits.exception_credits_per_month if limits else None,
    )
    return terminal


def revoke_terminal_tokens(session: Session, by: Any, terminal_id: int) -> int:
    """Revoke every live token of a terminal (a lost or stolen tablet). Returns how many."""
    count = _revoke(session, terminal_id)
    audit.record(session, by, "terminal.token_revoke", f"terminal:{terminal_id}", revoked=count)
    return count


def _revoke(session: Session, terminal_id: int) -> int:
    get_terminal(session, terminal_id)
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.terminal_id == terminal_id, ApiToken.revoked_at.is_(None))  # type: ignore[arg-type, union-attr]
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def rotate_terminal_token(session: Session, by: Any, terminal_id: int) -> str:
    """Revoke a terminal's tokens and issue a new one (shown only now)."""
    terminal = get_terminal(session, terminal_id)
    revoked = _revoke(session, terminal_id)
    audit.record(session, by, "terminal.token_rotate", f"terminal:{terminal_id}", revoked=revoked)
    return _issue_terminal_token(session, terminal, by.actor)


def terminal_principal(session: Session, token: ApiToken) -> Principal | None:
    """The principal a terminal token stands for, or None if the terminal or its shop is
    inactive. Refreshes the terminal's last-seen time (at most once a minute)."""
    if token.terminal_id is None:
        return None
    terminal = session.get(Terminal, token.terminal_id)
    if terminal is None or not terminal.active:
        return None
    shop = session.get(Shop, terminal.shop_id)
    if shop is None or not shop.active:
        return None
    now = utcnow()
    if terminal.last_seen_at is None or now - terminal.last_seen_at > LAST_SEEN_RESOLUTION:
        session.execute(
            update(Terminal).where(Terminal.id == terminal.id).values(last_seen_at=now)  # type: ignore[arg-type]
        )
    return Principal(
        role=Role.TERMINAL,
        name=f"{terminal.name} at {shop.name}",
        token_id=token.id,
        terminal_id=terminal.id,
        scope_ref=f"shop:{shop.id}",
        via=f"token:{token.id}",
    )
