"""Watching it run (credits/api/monitoring.py): /metrics is not public and reports what
happened; every response carries its request id; the production request log is one JSON
line per request with no secret in it; the alert rules name only exported metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from credits import create_app, ledger
from credits.accounts import Role
from credits.api.monitoring import EXPORTED
from credits.cli import main as cli
from credits.services import Services
from tests.conftest import ROOT, need, start_server

from .test_redemption import issue, make_terminal, redeem

TOKEN = "scrape-token-for-tests-0123456789"
ALERTS = ROOT / "deploy" / "prometheus" / "credits-alerts.yml"


@pytest.fixture
def make_client(settings_overrides, test_database):
    """A test client of an app built with extra settings."""
    built: list[Services] = []

    def make(**extra: Any) -> Any:
        svc = Services.build({**settings_overrides, **extra})
        built.append(svc)
        app = create_app(services=svc)
        app.config.update(TESTING=True)
        return app.test_client()

    yield make
    for svc in built:
        svc.close()


def scrape(client: Any, **headers: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted label pairs: value} from /metrics."""
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return parse(resp.get_data(as_text=True))


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


# --- access --------------------------------------------------------------------------------


def test_metrics_are_not_public(make_client):
    closed = make_client()
    resp = closed.get("/metrics")
    assert resp.status_code == 403 and resp.get_json()["code"] == "forbidden"

    with_token = make_client(METRICS_TOKEN=TOKEN)
    assert with_token.get("/metrics").status_code == 401
    wrong = with_token.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.get_json()["code"] == "unauthorized"
    assert (
        with_token.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    )

    # The test client calls from 127.0.0.1.
    assert make_client(METRICS_ALLOW="10.0.0.0/8, ::1").get("/metrics").status_code == 403
    assert make_client(METRICS_ALLOW="10.0.0.0/8, 127.0.0.0/8").get("/metrics").status_code == 200


def test_an_allowed_address_behind_a_proxy_is_the_client_not_the_proxy(make_client):
    """Behind a reverse proxy every request comes from 127.0.0.1: allowing that address must
    not make /metrics public once the proxy is declared."""
    client = make_client(METRICS_ALLOW="127.0.0.1", TRUSTED_PROXIES="1")
    outsider = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outsider.status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


# --- what is counted -----------------------------------------------------------------------


def test_redemptions_and_refusals_are_counted_by_code(make_client, db, make_person):
    client = make_client(METRICS_TOKEN=TOKEN)
    ann = make_person(Role.MEMBER, credits=100)
    till = make_terminal(db)
    before = scrape(client)
    voucher = issue(client, ann, 20)
    assert redeem(client, till, voucher["code"], key="first").status_code == 201
    assert redeem(client, till, voucher["code"], key="first").status_code == 201  # a retry
    assert redeem(client, till, voucher["code"], key="again").status_code == 409
    assert redeem(client, till, "CC1:NOT-A-CODE", key="bad").status_code == 422
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("credits_redemptions_total", mode="online") == 1
    assert delta("credits_redemption_refusals_total", code="already_redeemed") == 1
    assert delta("credits_redemption_refusals_total", code="malformed_code") == 1
    route = {"method": "POST", "route": "/api/v1/redemptions"}
    assert delta("credits_http_requests_total", **route, status="201") == 2
    assert delta("credits_http_requests_total", **route, status="409") == 1
    assert delta("credits_http_request_duration_seconds_count", **route) == 4
    assert value(after, "credits_vouchers_outstanding_credits") == 0
    assert value(after, "credits_database_up") == 1


def test_every_exported_metric_appears_and_reports_the_database(
    make_client, db, make_person, runner, tmp_path
):
    """Once each thing has happened once, /metrics exports exactly :data:`EXPORTED`, with the
    database's figures: the last verify and backup, the last closed month, open vouchers."""
    client = make_client(METRICS_TOKEN=TOKEN)
    ann = make_person(Role.MEMBER, credits=100)
    till = make_terminal(db)
    redeem(client, till, issue(client, ann, 10)["code"], key="r1")
    redeem(client, till, "CC1:X", key="r2")
    issue(client, ann, 15)
    db.run(
        lambda s: ledger.close_month(
            s, ledger.Month(2026, 9), closed_by="test", now=datetime(2026, 10, 2, tzinfo=UTC)
        )
    )
    assert runner.invoke(cli, ["verify"]).exit_code == 0
    assert runner.invoke(cli, ["backup", "--out", str(tmp_path / "b")]).exit_code == 0
    from credits.operations.runs import record_run

    db.run(
        lambda s: record_run(
            s,
            "restore",
            started_at=datetime(2026, 11, 1, tzinfo=UTC),
            finished_at=datetime(2026, 11, 1, 0, 5, tzinfo=UTC),
            ok=True,
        )
    )
    metrics = scrape(client)
    # (Without gunicorn the process's own process_* and python_* metrics come too.)
    assert {name for name in metrics if name.startswith("credits_")} == EXPORTED
    assert value(metrics, "credits_vouchers_outstanding_credits") == 15
    assert value(metrics, "credits_vouchers_open") == 1
    assert value(metrics, "credits_verify_last_success") == 1
    assert 0 <= value(metrics, "credits_verify_last_run_age_seconds") < 600
    assert value(metrics, "credits_backup_last_run_success") == 1
    assert value(metrics, "credits_last_closed_month_info", month="2026-09") == 1
    assert value(metrics, "credits_last_closed_month_end_timestamp_seconds") == (
        ledger.Month(2026, 9).ends_at.timestamp()
    )


def test_a_failing_verify_shows_in_the_metrics(make_client, db, make_person, runner):
    from .test_ledger_tamper import raw

    client = make_client(METRICS_TOKEN=TOKEN)
    ann = make_person(Role.MEMBER, credits=30)
    raw(
        db,
        "UPDATE account_balance SET balance = balance + 1 WHERE account_id = :a",
        a=ann.account_id,
    )
    assert runner.invoke(cli, ["verify"]).exit_code == 1
    assert value(scrape(client), "credits_verify_last_success") == 0


def test_a_database_that_does_not_answer_is_reported_not_raised(make_client, monkeypatch):
    client = make_client(METRICS_TOKEN=TOKEN)
    import credits.operations.figures as figures

    def down(session: Any) -> Any:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(figures, "health_figures", down)
    metrics = scrape(client)
    assert value(metrics, "credits_database_up") == 0
    assert "credits_vouchers_open" not in metrics


# --- request ids ---------------------------------------------------------------------------


def test_every_response_has_a_request_id_and_problems_quote_it(client, make_person):
    ok = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", ok.headers["X-Request-ID"])
    missing = client.get("/api/v1/nowhere")
    body = missing.get_json()
    assert body["request_id"] == missing.headers["X-Request-ID"] != ok.headers["X-Request-ID"]
    refused = client.post("/api/v1/vouchers", json={"amount": 5})
    assert refused.status_code == 401
    assert refused.get_json()["request_id"] == refused.headers["X-Request-ID"]
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.headers["X-Request-ID"] in page.get_data(as_text=True)


def test_a_proxys_request_id_is_kept_if_it_is_plain(client):
    assert (
        client.get("/healthz", headers={"X-Request-ID": "nginx-4f2a.9"}).headers["X-Request-ID"]
        == "nginx-4f2a.9"
    )
    for hostile in ("a" * 65, "x y", "<script>", "", "id;rm"):
        got = client.get("/healthz", headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", got)


# --- the production server: multiprocess metrics and the JSON request log ----------------------


@pytest.fixture
def production_server(services, cli_env, tmp_path):
    env = {**cli_env, "CREDITS_REQUEST_LOG": "json", "CREDITS_METRICS_TOKEN": TOKEN}
    server = start_server(env, tmp_path / "server.log", workers=2)
    yield server
    server.stop()


def test_metrics_add_up_every_workers_requests(production_server):
    with httpx.Client(base_url=production_server.url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        before = parse(http.get("/metrics", headers=auth).text)
        # Fresh connections: the requests land on both workers.
        for _ in range(20):
            assert httpx.get(production_server.url + "/healthz", timeout=10).status_code == 200
        after = parse(http.get("/metrics", headers=auth).text)
    route = {"method": "GET", "route": "/healthz", "status": "200"}
    got = value(after, "credits_http_requests_total", **route)
    assert got - value(before, "credits_http_requests_total", **route) == 20


def test_the_request_log_is_one_json_line_per_request_and_holds_no_secret(
    production_server, make_person, db
):
    ann = make_person(Role.MEMBER, credits=50)
    till = make_terminal(db)
    with httpx.Client(base_url=production_server.url, timeout=10) as http:
        made = http.post(
            "/api/v1/vouchers", json={"amount": 20, "idempotency_key": "k1"}, headers=ann.auth
        )
        assert made.status_code == 201
        code = made.json()["code"]
        redeemed = http.post(
            "/api/v1/redemptions",
            json={"code": code, "idempotency_key": "scan-1"},
            headers=till["auth"],
        )
        assert redeemed.status_code == 201
        http.post(
            "/sign-in",
            data={"login": ann.email, "password": "correct horse battery"},
            headers={"Accept": "text/html"},
        )
        ids = [made.headers["X-Request-ID"], redeemed.headers["X-Request-ID"]]
    production_server.stop()
    lines = [
        json.loads(line)
        for line in production_server.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    requests = [line for line in lines if line.get("logger") == "credits.request"]
    by_id = {line["request_id"]: line for line in requests}
    voucher_line, redeem_line = by_id[ids[0]], by_id[ids[1]]
    assert voucher_line["route"] == "/api/v1/vouchers" and voucher_line["status"] == 201
    assert voucher_line["principal"] == {
        "kind": "person",
        "id": ann.id,
        "role": "member",
        "via": voucher_line["principal"]["via"],
    }
    assert voucher_line["principal"]["via"].startswith("token:")
    assert redeem_line["principal"]["kind"] == "terminal" and redeem_line["duration_ms"] > 0
    secrets = [ann.token, till["auth"]["Authorization"].split()[1], code, "correct horse battery"]
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in secrets:
        assert secret not in text
    assert ann.email not in text


# --- the alert rules -------------------------------------------------------------------------


def test_the_alert_rules_name_only_metrics_the_app_exports():
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    assert {
        "CreditsVerifyFailing",
        "CreditsHigh5xxRate",
        "CreditsNotReady",
        "CreditsBackupTooOld",
    } <= names
    for rule in rules:
        used = set(re.findall(r"\bcredits_[a-z_]+\b", rule["expr"]))
        assert used, rule["alert"]
        assert used <= EXPORTED, (rule["alert"], used - EXPORTED)
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_the_alert_rules_are_valid_and_fire_when_they_should():
    promtool = shutil.which("promtool")
    need(promtool is not None, "promtool not installed (.ci/run installs it from Debian)")
    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "credits-alerts.test.yml"],
        cwd=ALERTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_request_log_setting_is_checked(settings_overrides, test_database):
    svc = Services.build({**settings_overrides, "REQUEST_LOG": "yes please"})
    try:
        with pytest.raises(ValueError, match="CREDITS_REQUEST_LOG must be json or off"):
            create_app(services=svc)
    finally:
        svc.close()
