"""A statement as data, and as the exact bytes people download and sign: JSON and CSV.

The JSON is canonical — keys sorted, ``(",", ":")`` separators, ASCII only, one trailing
newline — so the same statement always gives the same bytes: the API, the pages and the
command line serve identical files, and a signature over them stays checkable. Money is
integer credits and integer pence; pounds appear only as a text rendering (``"14.50"``).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from credits.statements.engine import (
    SchemeFigures,
    ShopLine,
    ShopStatement,
    Statement,
    TrialBalance,
)


def pounds(pence: int | None) -> str | None:
    """``1450`` → ``"14.50"`` (integer arithmetic; None stays None)."""
    if pence is None:
        return None
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole}.{part:02d}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _trial_balance(tb: TrialBalance) -> dict[str, Any]:
    return {
        "lines": [
            {
                "account_type": line.account_type,
                "opening": line.opening,
                "increases": line.increases,
                "decreases": line.decreases,
                "movement": line.movement,
                "closing": line.closing,
            }
            for line in tb.lines
        ],
        "total": tb.total,
        "opening_total": tb.opening_total,
        "movement_total": tb.movement_total,
    }


def _shop_line(line: ShopLine) -> dict[str, Any]:
    return {
        "shop_id": line.shop_id,
        "name": line.name,
        "redemptions": line.redemptions,
        "redeemed": line.redeemed,
        "change": line.change,
        "reversed": line.reversed,
        "exceptions": line.exceptions,
        "net": line.net,
        "owed_pence": line.owed_pence,
        "owed_gbp": pounds(line.owed_pence),
        "settled": line.settled,
    }


def _scheme(sf: SchemeFigures) -> dict[str, Any]:
    return {
        "opening_outstanding": {
            "members": sf.opening.members,
            "vouchers": sf.opening.vouchers,
            "total": sf.opening.total,
        },
        "closing_outstanding": {
            "members": sf.closing.members,
            "vouchers": sf.closing.vouchers,
            "total": sf.closing.total,
        },
        "totals": {
            "issued": sf.issued,
            "redeemed": sf.redeemed,
            "change_returned": sf.change_returned,
            "expired": sf.expired,
            "reversals": sf.reversals,
            "adjustments": sf.adjustments,
            "outstanding": sf.closing.total,
            "owed_pence": sf.owed_pence,
            "owed_gbp": pounds(sf.owed_pence),
        },
        "per_activity": [
            {
                "activity_id": a.activity_id,
                "slug": a.slug,
                "name": a.name,
                "awards": a.awards,
                "credits": a.credits,
            }
            for a in sf.by_activity
        ],
        "per_shop": [_shop_line(s) for s in sf.by_shop],
        "vouchers": {
            "issued_count": sf.vouchers.issued_count,
            "issued": sf.vouchers.issued,
            "redeemed_count": sf.vouchers.redeemed_count,
            "cancelled_count": sf.vouchers.cancelled_count,
            "cancelled": sf.vouchers.cancelled,
            "expired_count": sf.vouchers.expired_count,
            "expired": sf.vouchers.expired,
        },
    }


def _shop(shop: ShopStatement) -> dict[str, Any]:
    return {
        "shop": {"id": shop.shop_id, "name": shop.name},
        "opening_balance": shop.opening_balance,
        "closing_balance": shop.closing_balance,
        "totals": _shop_line(shop.totals),
        "lines": [
            {
                "kind": line.kind,
                "id": line.ref,
                "at": _iso(line.at),
                "london_time": line.local_time,
                "voucher": line.voucher,
                "amount": line.amount,
                "face_value": line.face_value,
                "change": line.change,
                "terminal_id": line.terminal_id,
                "terminal": line.terminal,
                "offline": line.offline,
                "exception": line.kind != "redemption",
                "note": line.note,
            }
            for line in shop.lines
        ],
    }


def as_dict(statement: Statement) -> dict[str, Any]:
    """The statement as JSON-ready data (contract v1 plus extensions; docs/statements.md)."""
    out: dict[str, Any] = {
        "month": str(statement.month),
        "starts_at": _iso(statement.month.starts_at),
        "ends_at": _iso(statement.month.ends_at),
        "kind": "shop" if statement.shop is not None else "scheme",
        "rate_pence_per_credit": statement.rate_pence_per_credit,
        "trial_balance": _trial_balance(statement.trial_balance),
    }
    if statement.scheme is not None:
        out.update(_scheme(statement.scheme))
    if statement.shop is not None:
        out.update(_shop(statement.shop))
    if statement.settlement is not None:
        from credits.settlement.figures import as_dict as settlement_dict

        out["settlement"] = settlement_dict(statement.settlement, per_shop=statement.shop is None)
    return out


def canonical_json(data: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, ASCII, a final newline."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return (text + "\n").encode("ascii")


def json_bytes(statement: Statement) -> bytes:
    """The statement's canonical JSON (what the API serves and the close hashes)."""
    return canonical_json(as_dict(statement))


def csv_writer(out: io.StringIO) -> Any:
    """The one way this project writes CSV (statements, payments files): RFC 4180 with CRLF
    line ends. Every CSV export goes through it, so a rule for cells applies to all."""
    return csv.writer(out, lineterminator="\r\n")


def csv_bytes(statement: Statement) -> bytes:
    """The statement as CSV for a spreadsheet: sections separated by a blank line, each with
    its own header row. UTF-8, CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    w = csv_writer(out)
    data = as_dict(statement)
    rate = data["rate_pence_per_credit"]
    w.writerow(["statement", data["kind"], data["month"]])
    w.writerow(["period_utc", data["starts_at"], data["ends_at"]])
    w.writerow(["rate_pence_per_credit", "" if rate is None else rate])
    if statement.scheme is not None:
        w.writerow([])
        w.writerow(["figure", "credits"])
        w.writerow(["opening_outstanding", data["opening_outstanding"]["total"]])
        for key in ("issued", "redeemed", "change_returned", "expired", "reversals"):
            w.writerow([key, data["totals"][key]])
        w.writerow(["adjustments", data["totals"]["adjustments"]])
        w.writerow(["closing_outstanding", data["closing_outstanding"]["total"]])
        w.writerow([])
        w.writerow(["activity", "name", "awards", "credits"])
        for a in data["per_activity"]:
            w.writerow([a["slug"], a["name"], a["awards"], a["credits"]])
        w.writerow([])
        _shop_header(w)
        for s in data["per_shop"]:
            _shop_row(w, s)
    if statement.shop is not None:
        w.writerow(["shop", data["shop"]["id"], data["shop"]["name"]])
        w.writerow([])
        w.writerow(
            [
                "london_time",
                "utc",
                "kind",
                "voucher",
                "amount",
                "face_value",
                "change",
                "terminal",
                "offline",
                "note",
                "id",
            ]
        )
        for line in data["lines"]:
            w.writerow(
                [
                    line["london_time"],
                    line["at"],
                    line["kind"],
                    line["voucher"],
                    line["amount"],
                    line["face_value"],
                    line["change"],
                    line["terminal"],
                    "yes" if line["offline"] else "no",
                    line["note"],
                    line["id"],
                ]
            )
        w.writerow([])
        _shop_header(w)
        _shop_row(w, data["totals"])
        w.writerow(["opening_balance", data["opening_balance"]])
        w.writerow(["closing_balance", data["closing_balance"]])
    if "settlement" in data:
        _settlement_rows(w, data["settlement"])
    w.writerow([])
    w.writerow(["account_type", "opening", "increases", "decreases", "movement", "closing"])
    for line in data["trial_balance"]["lines"]:
        w.writerow(
            [
                line["account_type"],
                line["opening"],
                line["increases"],
                line["decreases"],
                line["movement"],
                line["closing"],
            ]
        )
    tb = data["trial_balance"]
    w.writerow(["total", tb["opening_total"], "", "", tb["movement_total"], tb["total"]])
    return out.getvalue().encode("utf-8")


_SETTLEMENT_FIGURES = (
    "settled_credits",
    "settled_pence",
    "paid_pence",
    "unpaid_settled_pence",
    "unsettled_credits",
    "unsettled_pence",
    "unpaid_owed_pence",
)


def _settlement_rows(w: Any, figures: dict[str, Any]) -> None:
    """The settlement section: the month's totals, then one row per shop (scheme only)."""
    w.writerow([])
    w.writerow(["settlement", *_SETTLEMENT_FIGURES])
    w.writerow(["total", *("" if figures[k] is None else figures[k] for k in _SETTLEMENT_FIGURES)])
    for s in figures.get("per_shop", []):
        w.writerow(
            [f"shop {s['shop_id']}", *("" if s[k] is None else s[k] for k in _SETTLEMENT_FIGURES)]
        )


def _shop_header(w: Any) -> None:
    w.writerow(
        [
            "shop_id",
            "shop",
            "redemptions",
            "redeemed",
            "change",
            "reversed",
            "exceptions",
            "net",
            "owed_pence",
            "owed_gbp",
            "settled",
        ]
    )


def _shop_row(w: Any, s: dict[str, Any]) -> None:
    owed = "" if s["owed_pence"] is None else s["owed_pence"]
    gbp = "" if s["owed_gbp"] is None else s["owed_gbp"]
    w.writerow(
        [
            s["shop_id"],
            s["name"],
            s["redemptions"],
            s["redeemed"],
            s["change"],
            s["reversed"],
            s["exceptions"],
            s["net"],
            owed,
            gbp,
            s["settled"],
        ]
    )
