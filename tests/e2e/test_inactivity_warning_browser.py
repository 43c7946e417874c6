"""The inactivity warning on the member's pages, in real Chromium: readable, accessible."""

import pytest
from sqlalchemy import text

from credits.accounts import Role
from credits.db import Database
from tests.conftest import admin_engine, axe_violations

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "INACTIVITY_MONTHS": "6"}


def test_the_warning_is_shown_with_its_date(live_server, phone, make_person, db, tmp_path):
    ann = make_person(Role.MEMBER, credits=35, name="Ann Okafor")
    # Her account was opened, and her credits earned, seven months ago (rewritten behind the
    # ledger's back: the server's clock cannot be frozen).
    pg = db.dialect == "postgresql"

    def age(s):
        if pg:
            s.execute(text("SET LOCAL session_replication_role = replica"))
        for table, column in (("account", "created_at"), ("journal_entry", "occurred_at")):
            shifted = (
                f"{column} - interval '210 days'" if pg else f"datetime({column}, '-210 days')"
            )
            s.execute(text(f"UPDATE {table} SET {column} = {shifted}"))

    # As someone with direct access to the database (the app's role cannot, by design).
    Database(admin_engine() if pg else db.engine).run(age)
    phone.goto(live_server.url + "/sign-in")
    phone.get_by_label("Email address or mobile number").fill(ann.email)
    phone.get_by_label("Password").fill("correct horse battery")
    phone.get_by_role("button", name="Sign in").click()
    phone.goto(live_server.url + "/vouchers")
    alert = phone.get_by_role("alert")
    assert "Your credits will lapse on" in alert.inner_text()
    assert "35 credits" in alert.inner_text()
    assert axe_violations(phone) == []
    phone.screenshot(path=str(tmp_path / "warning.png"), full_page=True)
    phone.goto(live_server.url + "/vouchers/new")
    assert "will lapse" in phone.get_by_role("alert").inner_text()
