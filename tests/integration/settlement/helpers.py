"""Shared steps of the settlement tests: payees, closing the worked months, runs, bank files.

Hand-computed figures of the worked month (tests/integration/statements/worked_month.py):
in October shop A (Brixton Bakery) took 4 + 20 + 5 = 29 credits; shop B (Market Grocer)
took 18 + 10, was paid 5 for an offline double spend and gave back 10 when a redemption was
reversed: 23. October's rate is 50p, so A is owed 29 × 50 = 1,450p (£14.50) and B
23 × 50 = 1,150p (£11.50): £26.00 for 52 credits. September's shops took nothing.
"""

from __future__ import annotations

from typing import Any

from freezegun import freeze_time

from ..statements.worked_month import close_months, london

#: Valid UK accounts from Vocalink's published modulus-checking test cases.
SHOP_A_ACCOUNT = {"sort_code": "08-99-99", "account_number": "66374958"}
SHOP_B_IBAN = "GB89 NWBK 9386 1107 8060 39"
#: When the settlement is run: after October has been closed.
SETTLE_AT = london(2026, 11, 25, 12)
A_PENCE, B_PENCE, A_CREDITS, B_CREDITS = 1450, 1150, 29, 23


def post(client: Any, who: Any, path: str, body: Any = None, **kw: Any) -> Any:
    return client.post(path, json=body if body is not None else {}, headers=who.auth, **kw)


def get(client: Any, who: Any, path: str) -> Any:
    return client.get(path, headers=who.auth)


def set_payee(client: Any, entered_by: Any, approved_by: Any, shop_id: int, **details: Any) -> Any:
    """One officer enters a shop's details, another approves them; returns the approved body."""
    resp = post(
        client,
        entered_by,
        f"/api/v1/settlements/payees/{shop_id}",
        {"reason": "the shop's signed form of 1 November", **details},
    )
    assert resp.status_code == 202, resp.get_json()
    payee_id = resp.get_json()["id"]
    resp = post(client, approved_by, f"/api/v1/settlements/payee-changes/{payee_id}/approve")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def set_payees(client: Any, month: Any, second: Any) -> None:
    """Approved details for both shops of the worked month."""
    set_payee(
        client, month.officer, second, month.shop_a["shop_id"],
        legal_name="Brixton Bakery Ltd", **SHOP_A_ACCOUNT,
    )  # fmt: skip
    set_payee(
        client, month.officer, second, month.shop_b["shop_id"],
        legal_name="Market Grocer", iban=SHOP_B_IBAN,
    )  # fmt: skip


def close_october(db: Any) -> None:
    close_months(db, "2026-09", "2026-10")


def start_run(client: Any, who: Any, month: str = "2026-10", key: str = "run-oct") -> Any:
    return post(client, who, "/api/v1/settlements", {"month": month, "idempotency_key": key})


def settle_october(client: Any, db: Any, month: Any, second: Any) -> dict[str, Any]:
    """Payees, close, start and approve October's run at SETTLE_AT; the approved run."""
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        resp = start_run(client, month.officer)
        assert resp.status_code == 201, resp.get_json()
        run = resp.get_json()
        resp = post(client, month.officer, f"/api/v1/settlements/{run['id']}/approve")
        assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def reference(run: dict[str, Any], shop_id: int) -> str:
    return next(x["payment_reference"] for x in run["lines"] if x["shop_id"] == shop_id)


def shop_staff(db: Any, make_person: Any, shop_id: int) -> Any:
    """A member of a shop's staff (role scoped to ``shop:<id>``)."""
    from sqlalchemy import text

    from credits.accounts import Role

    staff = make_person(Role.SHOP_STAFF)
    db.run(
        lambda s: s.execute(
            text("UPDATE person_role SET scope_ref = :r WHERE person_id = :p"),
            {"r": f"shop:{shop_id}", "p": staff.id},
        )
    )
    return staff
