"""Watching it run: a request id on every request, one JSON log line per request, and
``GET /metrics`` for Prometheus.

**Request id.** Every request gets one: the ``X-Request-ID`` a reverse proxy sent (nginx's
``$request_id``), if it is 1–64 characters of ``[A-Za-z0-9._-]``, else a new random one. It
is returned in the ``X-Request-ID`` response header and in every problem+json body
(``request_id``), and written on the request's log line, so a council officer's "it said
something went wrong" can be found in the logs.

**The request log** (``CREDITS_REQUEST_LOG=json``, on in deploy/gunicorn.conf.py): one JSON
object per line on stderr for each request — time, request id, method, route *template*
(``/api/v1/vouchers/<voucher_id>/cancel``, never the path or the query string, where a
token or a voucher's id could be), status, duration, and who called: the principal's kind
(``person``, ``terminal`` or ``anonymous``), id, role and how they authenticated
(``token:7``, ``session:40``: ids, never a secret). No header, body, password, token, link
token, voucher code or client address is ever written.

**Metrics** (prometheus_client). Counters and histograms are kept per process; under
gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` (set by deploy/gunicorn.conf.py and `credits serve`
before any worker starts) makes every worker write them to files that a scrape adds up.
What the database knows (vouchers outstanding, the last verify and backup, the last closed
month) is read at scrape time (credits/operations/figures.py). Exported names are in
:data:`EXPORTED`; deploy/prometheus/credits-alerts.yml uses only those (tested).

``/metrics`` is not public: a scraper must present ``Authorization: Bearer
<CREDITS_METRICS_TOKEN>`` or come from an address in ``CREDITS_METRICS_ALLOW``; with
neither configured, nobody may read it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from credits.api.context import current_services
from credits.errors import Forbidden, Unauthorized

log = logging.getLogger("credits.request")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: The redemption endpoint, whose outcomes are counted by code.
REDEEM_ENDPOINT = "redemptions.redeem"

# No "_created" series beside each counter: nothing here reads them, and they double the
# scrape.
disable_created_metrics()

REQUESTS = Counter(
    "credits_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "credits_http_request_duration_seconds",
    "Time to answer a request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REDEMPTIONS = Counter(
    "credits_redemptions",
    "Vouchers redeemed at shops (first answers, not retries), online or accepted offline.",
    ["mode"],
)
REFUSALS = Counter(
    "credits_redemption_refusals",
    "Redemption requests refused, by problem code (already_redeemed, expired...).",
    ["code"],
)
OFFLINE_EXCEPTIONS = Counter(
    "credits_offline_exceptions",
    "Offline acceptances of vouchers already spent or cancelled (paid from adjustments).",
)

#: Every metric name /metrics can export (counters as exported, with _total), for the
#: alert rules' test.
EXPORTED = frozenset(
    {
        "credits_http_requests_total",
        "credits_http_request_duration_seconds_bucket",
        "credits_http_request_duration_seconds_sum",
        "credits_http_request_duration_seconds_count",
        "credits_redemptions_total",
        "credits_redemption_refusals_total",
        "credits_offline_exceptions_total",
        "credits_database_up",
        "credits_vouchers_outstanding_credits",
        "credits_vouchers_open",
        "credits_offline_exceptions_open",
        "credits_last_closed_month_end_timestamp_seconds",
        "credits_last_closed_month_end_age_seconds",
        "credits_last_closed_month_info",
        "credits_verify_last_success",
        "credits_verify_last_run_timestamp_seconds",
        "credits_verify_last_run_age_seconds",
        "credits_backup_last_run_success",
        "credits_backup_last_success_timestamp_seconds",
        "credits_backup_last_success_age_seconds",
        "credits_restore_last_success",
        "credits_restore_last_run_timestamp_seconds",
    }
)


# --- request id and request log ------------------------------------------------------------


def request_id() -> str | None:
    """This request's id (None outside a request)."""
    return g.get("request_id") if request else None


def _begin() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _principal() -> dict[str, Any]:
    who = g.get("principal") or g.get("web_principal")
    if who is None:
        return {"kind": "anonymous"}
    if who.terminal_id is not None:
        kind, ident = "terminal", who.terminal_id
    elif who.person_id is not None:
        kind, ident = "person", who.person_id
    else:
        kind, ident = "other", None
    return {"kind": kind, "id": ident, "role": who.role.value, "via": who.via or None}


def _route() -> str:
    return request.url_rule.rule if request.url_rule is not None else "<unmatched>"


def _finish(response: Response) -> Response:
    if "request_id" not in g:  # a request that failed before _begin ran
        _begin()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
    route, status = _route(), response.status_code
    REQUESTS.labels(request.method, route, str(status)).inc()
    LATENCY.labels(request.method, route).observe(elapsed)
    if request.endpoint == REDEEM_ENDPOINT and status >= 400:
        REFUSALS.labels(g.get("problem_code") or str(status)).inc()
    if current_services().settings.request_log == "json":
        log.info(
            "request",
            extra={
                "request": {
                    "request_id": g.request_id,
                    "method": request.method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "principal": _principal(),
                }
            },
        )
    return response


def count_redemption(body: dict[str, Any], *, replayed: bool) -> None:
    """Count a redemption's first answer (a retry's replay is not a new one)."""
    if replayed:
        return
    if body.get("status") == "exception":
        OFFLINE_EXCEPTIONS.inc()
    else:
        REDEMPTIONS.labels("offline" if body.get("offline") else "online").inc()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's fields (on the
    request log) or the request id (on anything logged during a request), and a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "request", None)
        if isinstance(fields, dict):
            line.update(fields)
        else:
            line["message"] = record.getMessage()
            if request and "request_id" in g:
                line["request_id"] = g.request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_json_logging() -> None:
    """Send everything the app logs (``credits.*``) to stderr as JSON lines."""
    root = logging.getLogger("credits")
    if any(getattr(h, "credits_json", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.credits_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


# --- /metrics ------------------------------------------------------------------------------

blp = Blueprint("monitoring", __name__)


def _allowed_networks(setting: str) -> list[Any]:
    networks = []
    for part in (p.strip() for p in setting.split(",")):
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return networks


def _authorise_scrape() -> None:
    from credits.api.auth import bearer_token
    from credits.api.requestinfo import client_ip

    settings = current_services().settings
    token = bearer_token()
    if settings.metrics_token and token is not None:
        if hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
            return
        raise Unauthorized("that is not the metrics scrape token")
    if settings.metrics_allow:
        try:
            address = ipaddress.ip_address(client_ip())
        except ValueError:
            address = None
        if address is not None and any(
            address in net for net in _allowed_networks(settings.metrics_allow)
        ):
            return
    if settings.metrics_token:
        raise Unauthorized("send the metrics scrape token (Authorization: Bearer ...)")
    raise Forbidden("metrics are not public: see CREDITS_METRICS_TOKEN and CREDITS_METRICS_ALLOW")


class _ProcessMetrics(Collector):
    """This process's own registry (no gunicorn: tests, a single process)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class LedgerCollector(Collector):
    """What the database knows, read at scrape time."""

    def __init__(self, services_: Any) -> None:
        self.services = services_

    def collect(self) -> Iterator[Metric]:
        from credits.operations.figures import health_figures

        up = GaugeMetricFamily(
            "credits_database_up", "1 if the database answered this scrape (as /readyz), else 0."
        )
        try:
            with self.services.db.read() as session:
                figures = health_figures(session)
        except Exception:
            logging.getLogger(__name__).exception("metrics: the database did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = time.time()
        yield _gauge(
            "credits_vouchers_outstanding_credits",
            "Credits held in open vouchers (the vouchers outstanding account).",
            figures.vouchers_outstanding_credits,
        )
        yield _gauge("credits_vouchers_open", "Open vouchers.", figures.open_vouchers)
        yield _gauge(
            "credits_offline_exceptions_open",
            "Offline exceptions not yet resolved by an officer.",
            figures.open_offline_exceptions,
        )
        if figures.last_closed_month_ends_at is not None:
            yield _gauge(
                "credits_last_closed_month_end_timestamp_seconds",
                "When the last closed month ended (Unix time).",
                figures.last_closed_month_ends_at.timestamp(),
            )
            yield _gauge(
                "credits_last_closed_month_end_age_seconds",
                "Seconds since the last closed month ended (a month closes a few days after).",
                now - figures.last_closed_month_ends_at.timestamp(),
            )
            info = GaugeMetricFamily(
                "credits_last_closed_month_info", "The last closed month.", labels=["month"]
            )
            info.add_metric([figures.last_closed_month], 1)
            yield info
        verify = figures.runs.get("verify")
        if verify is not None:
            yield _gauge(
                "credits_verify_last_success",
                "1 if the last `credits verify` passed every check, else 0.",
                int(verify.ok),
            )
            yield _gauge(
                "credits_verify_last_run_timestamp_seconds",
                "When the last `credits verify` finished (Unix time).",
                verify.finished_at.timestamp(),
            )
            yield _gauge(
                "credits_verify_last_run_age_seconds",
                "Seconds since the last `credits verify` finished.",
                now - verify.finished_at.timestamp(),
            )
        backup = figures.runs.get("backup")
        if backup is not None:
            yield _gauge(
                "credits_backup_last_run_success",
                "1 if the last `credits backup` succeeded, else 0.",
                int(backup.ok),
            )
            if backup.last_ok_at is not None:
                yield _gauge(
                    "credits_backup_last_success_timestamp_seconds",
                    "When the last successful backup finished (Unix time).",
                    backup.last_ok_at.timestamp(),
                )
                yield _gauge(
                    "credits_backup_last_success_age_seconds",
                    "Seconds since the last successful backup finished.",
                    now - backup.last_ok_at.timestamp(),
                )
        restore = figures.runs.get("restore")
        if restore is not None:
            yield _gauge(
                "credits_restore_last_success",
                "1 if the last restore (drill) matched its backup, else 0.",
                int(restore.ok),
            )
            yield _gauge(
                "credits_restore_last_run_timestamp_seconds",
                "When the last restore (drill) finished (Unix time).",
                restore.finished_at.timestamp(),
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge


@blp.route("/metrics")
def metrics() -> Response:
    """Prometheus text format (not public: see the module docstring)."""
    _authorise_scrape()
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(LedgerCollector(current_services()))
    response = Response(generate_latest(registry), mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: Flask, settings: Any) -> None:
    """Request ids, the request log and /metrics, on every request of ``app`` (call before
    anything else registers request hooks: the request id is the first thing set)."""
    if settings.request_log not in ("json", "off"):
        raise ValueError(f"CREDITS_REQUEST_LOG must be json or off, not {settings.request_log!r}")
    if settings.request_log == "json":
        configure_json_logging()
    app.before_request(_begin)
    app.after_request(_finish)
    app.register_blueprint(blp)
