"""The redemption entry point: one statement on PostgreSQL for the common case, the full use
case (credits.redemption.service.redeem) otherwise.

The one-statement path (``redeem_voucher``, migrations 0012 and 0018) handles an online
redemption of a code that verifies: token re-check, replay, claim, entry, redemption row; a
refusal of a closed voucher is recorded in ``redemption_refusal`` in the same statement.
Everything else —
offline submissions (which may become exceptions), codes that do not verify, amounts above
the face value, and SQLite — goes through the use case, which checks a replay *before*
anything else, so a retry always gets its first answer. Both paths are run by the same tests.
"""

from __future__ import annotations

import json
import random
import secrets
from typing import Any

from credits import ledger
from credits.accounts.identity import Principal
from credits.errors import CreditsError, IdempotencyConflict, Unauthorized
from credits.ledger.accounts import CHAIN_LANES
from credits.redemption.service import (
    RedeemRequest,
    RedeemResult,
    check_request,
    redeem,
    redeem_memo,
    scoped_key,
    terminal_info,
)
from credits.services import Services
from credits.vouchers.errors import (
    AlreadyRedeemed,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotFound,
)
from credits.vouchers.runtime import runtime
from credits.vouchers.service import check_client_key, verify_voucher_code

_SQL = (
    "SELECT outcome, id, voucher_id, amount, change, shop_id, redeemed_at, terminal_id, "
    "shop_name, is_offline, is_reversed FROM redeem_voucher("
    "%(token_hash)s, %(terminal_id)s, %(voucher_id)s, %(face)s, %(amount)s, %(key)s, "
    "%(request_hash)s, %(actor)s, %(now)s, %(redemption_id)s, %(memo)s, %(memo_json)s, "
    "%(outstanding)s, %(lane)s)"
)

#: The scheme's vouchers-outstanding account id, per database URL (it never changes).
_OUTSTANDING: dict[str, int] = {}


def redeem_now(
    services: Services, who: Principal, request: RedeemRequest, *, token_hash: str
) -> RedeemResult:
    """Redeem for a terminal principal, in its own transaction. Raises a refusal (after
    committing what it recorded: a refused claim, an online refusal of a closed voucher)."""
    keyring = runtime(services.settings).keyring
    db = services.db
    if db.dialect == "postgresql" and request.offline_accepted_at is None:
        fast = _one_statement(services, who, request, token_hash, keyring)
        if fast is not None:
            return fast
    # Keyed (the terminal's idempotency key): a second run replays the first answer — a
    # recorded claim's refusal included.
    result = db.run(
        lambda s: redeem(s, terminal_info(s, who), request, keyring=keyring), idempotent=True
    )
    if result.refusal is not None:
        raise result.refusal
    return result


def _one_statement(
    services: Services, who: Principal, request: RedeemRequest, token_hash: str, keyring: Any
) -> RedeemResult | None:
    """The one-statement path, or None to fall back to the use case."""
    from credits.db import utcnow

    assert who.terminal_id is not None and who.scope_ref is not None
    now = utcnow()
    try:
        client_key = check_client_key(request.client_key)
        claims = verify_voucher_code(keyring, request.code, now=now)
    except CreditsError:
        return None  # the use case checks a replay first, then refuses properly
    shop_id = int(who.scope_ref.split(":", 1)[1])
    try:
        # The floor limit matters only offline; this path is online.
        amount = check_request(claims, request, _NO_LIMIT)
    except CreditsError:
        return None
    memo = redeem_memo(claims.voucher_id_hex, shop_id)
    row = services.db.execute_autocommit(
        _SQL,
        {
            "token_hash": token_hash,
            "terminal_id": who.terminal_id,
            "voucher_id": claims.voucher_id_hex,
            "face": claims.face_value,
            "amount": amount,
            "key": scoped_key(who.terminal_id, client_key),
            "request_hash": request.fingerprint(),
            "actor": who.actor,
            "now": now,
            "redemption_id": secrets.token_hex(16),
            "memo": memo,
            "memo_json": json.dumps(memo),
            "outstanding": _outstanding(services),
            "lane": random.randrange(CHAIN_LANES),
        },
    )
    outcome = row[0]
    if outcome in ("redeemed", "replayed"):
        return RedeemResult(_body(row), replayed=outcome == "replayed")
    if outcome == "conflict":
        raise IdempotencyConflict(
            "this idempotency key was already used for a different redemption"
        )
    if outcome == "unauthorized":
        raise Unauthorized("this terminal's token no longer works; ask the council for a new one")
    if outcome == "already_redeemed":
        if row[5] is None:
            raise AlreadyRedeemed("this voucher has already been spent")
        raise AlreadyRedeemed(
            f"this voucher was already used at {row[8]}",
            shop_id=row[5],
            shop_name=row[8],
            redeemed_at=_iso(row[6]),
        )
    if outcome == "voucher_cancelled":
        raise VoucherCancelled("this voucher was cancelled; its credits went back to the member")
    if outcome == "expired":
        raise VoucherExpired("this voucher has expired")
    if outcome == "not_found":
        raise VoucherNotFound("there is no such voucher")
    return None  # "python": an exception's key — the use case answers it


class _NoLimit:
    floor_limit = 0


_NO_LIMIT: Any = _NoLimit()


def _outstanding(services: Services) -> int:
    url = str(services.db.engine.url)
    if url not in _OUTSTANDING:
        with services.db.read() as s:
            _OUTSTANDING[url] = ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id
    return _OUTSTANDING[url]


def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _body(row: Any) -> dict[str, Any]:
    return {
        "id": row[1],
        "voucher_id": row[2],
        "amount": row[3],
        "change": row[4],
        "shop_id": row[5],
        "redeemed_at": _iso(row[6]),
        "status": "redeemed",
        "offline": bool(row[9]),
        "terminal_id": row[7],
        "reversed": bool(row[10]),
    }
