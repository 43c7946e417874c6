"""The open data over HTTP: no authentication, cacheable (ETag, 304), signed so that
`credits verify-statement` checks a downloaded copy, a data package that validates with the
`frictionless` library, and clear refusals for months that are not public."""

from __future__ import annotations

import json

import frictionless
import pytest
from freezegun import freeze_time

from credits import create_app

from .conftest import NOW


def _get(client, path, **kw):
    with freeze_time(NOW):
        return client.get(path, **kw)


def test_anyone_may_read_it_and_caches_may_keep_it(worked, client):
    for headers in ({}, {"Authorization": "Bearer cc_not-a-real-token"}, worked.officer.auth):
        resp = _get(client, "/api/v1/open/2026-10", headers=headers)
        assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=3600"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    etag = resp.headers["ETag"]
    again = _get(client, "/api/v1/open/2026-10", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    other = _get(client, "/api/v1/open/2026-10", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    csv_ = _get(client, "/api/v1/open/2026-10?format=csv")
    assert csv_.headers["ETag"] != etag
    months = _get(client, "/api/v1/open/months")
    assert months.headers["Cache-Control"] == "public, max-age=300"


def test_every_worker_serves_the_same_bytes(worked, client, services):
    """Two apps on one database (two gunicorn workers): identical bytes, ETag, signature."""
    second = create_app(services=services).test_client()
    for path in ("/api/v1/open/2026-10", "/api/v1/open/2026-10?format=csv",
                 "/api/v1/open/months", "/api/v1/open/data/datapackage.json"):  # fmt: skip
        a, b = _get(client, path), _get(second, path)
        assert a.status_code == b.status_code == 200
        assert a.data == b.data
        assert a.headers["ETag"] == b.headers["ETag"]
        assert a.headers["Statement-Signature"] == b.headers["Statement-Signature"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/open/2026-11", 404, "not_found"),  # open: not closed yet
        ("/api/v1/open/2027-01", 404, "not_found"),  # the future
        ("/api/v1/open/2026-08", 404, "not_found"),  # before the first entry, never closed
        ("/api/v1/open/october", 422, "validation_error"),
        ("/api/v1/open/2026-10?format=xml", 422, "validation_error"),
        ("/api/v1/open/data/2026-10.xlsx", 404, "not_found"),
        ("/api/v1/open/data/2026-11.csv", 404, "not_found"),
    ],
)
def test_months_that_are_not_public_are_refused_clearly(worked, client, path, status, code):
    resp = _get(client, path)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == code


def test_a_downloaded_copy_verifies_and_a_tampered_one_does_not(worked, client, runner, tmp_path):
    trust = tmp_path / "trust-list.json"
    trust.write_bytes(_get(client, "/api/v1/trust-list").data)
    for fmt in ("json", "csv"):
        body = _get(client, "/api/v1/open/2026-10", query_string={"format": fmt})
        sig = _get(client, "/api/v1/open/2026-10/signature", query_string={"format": fmt})
        assert sig.status_code == 200
        assert sig.get_data(as_text=True).strip() == body.headers["Statement-Signature"]
        data, sig_file = tmp_path / f"open-2026-10.{fmt}", tmp_path / f"open-2026-10.{fmt}.sig"
        data.write_bytes(body.data)
        sig_file.write_bytes(sig.data)
        ok = runner.invoke(
            _cli(), ["verify-statement", str(data), str(sig_file), "--trust-list", str(trust)]
        )
        assert ok.exit_code == 0, ok.output
        assert "verified" in ok.output
        tampered = bytearray(body.data)
        at = tampered.index(b"155")
        tampered[at] = ord("9")  # 155 credits earned becomes 955
        data.write_bytes(bytes(tampered))
        bad = runner.invoke(
            _cli(), ["verify-statement", str(data), str(sig_file), "--trust-list", str(trust)]
        )
        assert bad.exit_code == 1, bad.output
        assert "does not match" in bad.output


def _cli():
    from credits.cli import main

    return main


def test_the_data_package_validates_with_frictionless(worked, client, tmp_path):
    package = _get(client, "/api/v1/open/data/datapackage.json")
    assert package.status_code == 200
    descriptor = json.loads(package.data)
    # Download the package as a reader would: the descriptor and each resource beside it.
    (tmp_path / "datapackage.json").write_bytes(package.data)
    assert [r["path"] for r in descriptor["resources"]] == ["2026-09.csv", "2026-10.csv"]
    for resource in descriptor["resources"]:
        got = _get(client, f"/api/v1/open/data/{resource['path']}")
        assert got.status_code == 200
        assert got.data == _get(client, f"/api/v1/open/{resource['path'][:7]}?format=csv").data
        assert resource["statement_signature"] == got.headers["Statement-Signature"]
        (tmp_path / resource["path"]).write_bytes(got.data)

    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert descriptor["licenses"] == [
        {
            "name": "OGL-UK-3.0",
            "path": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
            "title": "Open Government Licence v3.0",
        }
    ]
    # The markers are declared as missing values, so the suppressed counts read as null.
    pkg = frictionless.Package(str(tmp_path / "datapackage.json"))
    rows = pkg.get_resource("figures-2026-10").read_rows()
    people = [r for r in rows if r["measure"] == "active_volunteers"]
    assert len(people) == 1 and people[0]["value"] is None
    earned = [r for r in rows if r["measure"] == "credits_earned" and r["scope"] == "scheme"]
    assert earned[0]["value"] == 155

    # A broken resource fails validation: the test can fail.
    broken = (tmp_path / "2026-10.csv").read_bytes().replace(b",155,", b",lots,")
    (tmp_path / "2026-10.csv").write_bytes(broken)
    assert not frictionless.validate(str(tmp_path / "datapackage.json")).valid


def test_the_licence_is_a_setting(worked, settings_overrides, services):
    from credits.services import Services

    svc = Services.build({**settings_overrides, "OPEN_DATA_LICENCE": "CC-BY-4.0"})
    try:
        client = create_app(services=svc).test_client()
        descriptor = _get(client, "/api/v1/open/data/datapackage.json").get_json()
        assert descriptor["licenses"][0]["name"] == "CC-BY-4.0"
        assert _get(client, "/api/v1/open/2026-10").get_json()["licence"]["name"] == "CC-BY-4.0"
    finally:
        svc.close()
    with pytest.raises(ValueError, match="unknown open data licence"):
        create_app({**settings_overrides, "OPEN_DATA_LICENCE": "all-rights-reserved"})
