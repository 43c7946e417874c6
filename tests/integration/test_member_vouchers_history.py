"""A member sees their vouchers on their home page, and where each was spent in their
history (issue 5: "the member's history shows where and when each voucher was spent")."""

from credits.accounts import Role

from .test_redemption import issue, make_terminal, redeem
from .web_helpers import sign_in


def test_home_and_history_say_where_vouchers_went(client, app, db, make_person):
    ann = make_person(Role.MEMBER, credits=100, name="Ann")
    till = make_terminal(db)
    spent = issue(client, ann, 30, key="a")
    partly = issue(client, ann, 20, key="b")
    kept = issue(client, ann, 10, key="c")
    cancelled = issue(client, ann, 5, key="d")
    redeem(client, till, spent["code"], key="s1")
    redeem(client, till, partly["code"], key="s2", amount=12)
    client.post(f"/api/v1/vouchers/{cancelled['id']}/cancel", headers=ann.auth)

    entries = client.get("/api/v1/me/entries", headers=ann.auth).get_json()["items"]
    text = "\n".join(e["description"] for e in entries)
    assert f"Voucher {spent['reference']} for 30 credits: spent at Brixton Bakery on" in text
    assert "(12 taken, 8 back to you)" in text
    assert "Change from voucher" in text and "not used yet" in text
    assert f"Voucher {cancelled['reference']} for 5 credits: cancelled, credits back" in text

    page = app.test_client()
    sign_in(page, ann.email)
    html = page.get("/me").get_data(as_text=True)
    assert "Spend credits" in html and "held in" in html
    assert f"<strong>{kept['amount']}</strong>" in html  # 10 credits in the one open voucher
    assert "spent at Brixton Bakery" in html
