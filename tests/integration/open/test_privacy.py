"""Nobody's personal data on the public record: no identifier of a person or a voucher in any
public page, JSON, CSV or data package; no time finer than a day; counts of fewer than 5
people suppressed, and not recoverable by subtracting the other published figures."""

from __future__ import annotations

import csv
import io
import re

import pytest
from freezegun import freeze_time

from ..statements.worked_month import london
from .scenarios import snow_day

LATER = london(2026, 10, 20, 12)


@pytest.fixture
def day(db, client, make_person):
    return snow_day(db, client, make_person)


def _public_files(client) -> dict[str, bytes]:
    paths = [
        "/open",
        "/open/2026-09",
        "/api/v1/open/months",
        "/api/v1/open/2026-09",
        "/api/v1/open/2026-09?format=csv",
        "/api/v1/open/2026-09/signature",
        "/api/v1/open/data/datapackage.json",
        "/api/v1/open/data/2026-09.csv",
    ]
    out = {}
    with freeze_time(LATER):
        for path in paths:
            resp = client.get(path)
            assert resp.status_code == 200, (path, resp.get_data(as_text=True)[:300])
            head = "\n".join(f"{k}: {v}" for k, v in resp.headers.items())
            out[path] = head.encode() + b"\n\n" + resp.data
    return out


def test_no_identifier_of_anyone_appears_anywhere(day, client):
    assert len(day.identifiers) > 20
    files = _public_files(client)
    for path, data in files.items():
        text_ = data.decode("utf-8").lower()
        for identifier in day.identifiers:
            assert identifier.lower() not in text_, f"{identifier!r} is published in {path}"
        assert "@" not in text_, f"an email address in {path}"
        for account_like in ("member:", "person:", "person_id", "account_id"):
            assert account_like not in text_, (account_like, path)
        if path.startswith("/api/"):
            # No timestamp finer than a day in the data (dates only).
            assert not re.search(r"\d{2}:\d{2}", data.split(b"\n\n", 1)[1].decode()), path
    # The names are really in the database (the test would otherwise prove nothing).
    with day.scheme.db.read() as s:
        from sqlalchemy import text

        names = {n for (n,) in s.execute(text("SELECT name FROM person"))}
    assert "Quillon Marchbanks-Vey A" in names


def test_the_documents_carry_no_person_fields(day, client):
    with freeze_time(LATER):
        doc = client.get("/api/v1/open/2026-09").get_json()
        months = client.get("/api/v1/open/months").get_json()

    def keys(value, found):
        if isinstance(value, dict):
            for k, v in value.items():
                found.add(k)
                keys(v, found)
        elif isinstance(value, list):
            for v in value:
                keys(v, found)
        return found

    every = keys(doc, set()) | keys(months, set())
    assert not {k for k in every if re.search(r"person|email|member|voucher_ref|reference", k)}


def test_a_month_total_less_its_other_activities_gives_nothing_away(day, client):
    with freeze_time(LATER):
        doc = client.get("/api/v1/open/2026-09").get_json()
        rows = list(
            csv.DictReader(
                io.StringIO(client.get("/api/v1/open/2026-09?format=csv").get_data(as_text=True))
            )
        )
        page = client.get("/open/2026-09").get_data(as_text=True)
    volunteers = {a["activity"]: a["volunteers"] for a in doc["activities"]}
    total = doc["volunteering"]["active_volunteers"]
    # Nine people: 7 cleared snow, 2 ran a speed watch. Published as they stand, 9 - 7 = 2.
    assert total == 9
    assert volunteers["speed-watch"] == "<5"
    assert volunteers["snow-clearing"] == "[c]", "the complementary count is withheld"
    # The obvious differencing: the total less every other activity's published count.
    others = [v for k, v in volunteers.items() if k != "speed-watch"]
    assert not all(isinstance(v, int) for v in others), "a reader could subtract 9 - 7"
    # The CSV says exactly the same.
    people = {
        r["ref"]: r["value"] for r in rows if r["measure"] == "volunteers" and r["unit"] == "people"
    }
    assert people == {"snow-clearing": "[c]", "speed-watch": "<5"}
    assert [r["value"] for r in rows if r["measure"] == "active_volunteers"] == ["9"]
    # The page says it in words, and why.
    snow = re.search(r'<tr data-activity="snow-clearing">(.*?)</tr>', page, re.S).group(1)
    speed = re.search(r'<tr data-activity="speed-watch">(.*?)</tr>', page, re.S).group(1)
    assert "not shown" in snow and "fewer than 5" in speed
    assert re.search(r">\s*7\s*<", snow) is None and re.search(r">\s*2\s*<", speed) is None
    # The amounts are the statement's, in full: 7 × 2 hours and 2 sessions.
    volunteered = {a["activity"]: a["volunteered"] for a in doc["activities"]}
    assert volunteered["snow-clearing"] == [{"unit": "hour", "quantity": "14"}]
    assert set(doc["suppression"]["markers"]) == {"<5", "[c]"}
