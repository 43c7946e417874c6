"""gunicorn settings for production: ``gunicorn -c deploy/gunicorn.conf.py credits.wsgi:app``.

Every value can be overridden from the environment (GUNICORN_CMD_ARGS or the CREDITS_*
settings the app reads itself). The worker, logger and request limits are shared with
``credits serve`` (credits/web_server.py says why each is what it is). Sync workers: each
request holds one database connection for a few milliseconds; measured faster than gthread
here (docs/benchmarks.md).

Production defaults set here for the app: one JSON line per request (CREDITS_REQUEST_LOG),
and Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR, emptied at start): each worker
writes its counters to files there and ``GET /metrics`` adds them up. Both are set before
any worker starts (prometheus_client decides its mode when it is first imported).
"""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("CREDITS_BIND", "127.0.0.1:8000")
os.environ.setdefault("CREDITS_REQUEST_LOG", "json")
# systemd's RuntimeDirectory=credits (deploy/credits.service) gives /run/credits. One folder
# per address: two servers on one host (docs/scaling.md) must not empty each other's.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    str(
        Path(os.environ.get("RUNTIME_DIRECTORY", tempfile.gettempdir()))
        / ("credits-metrics-" + "".join(c if c.isalnum() else "-" for c in bind))
    ),
)

from credits.web_server import SETTINGS  # noqa: E402 - after the environment it reads

workers = int(os.environ.get("CREDITS_WORKERS", multiprocessing.cpu_count() * 2))
# gunicorn's sync worker, answering the requests gunicorn refuses itself (an address over
# limit_request_line, too many or too large headers, not HTTP) as problem+json.
worker_class = SETTINGS["worker_class"]
limit_request_line = SETTINGS["limit_request_line"]
limit_request_fields = SETTINGS["limit_request_fields"]
limit_request_field_size = SETTINGS["limit_request_field_size"]
# Keep-alive helps a reverse proxy reuse connections; sync workers close after each request.
keepalive = 2
timeout = 30
graceful_timeout = 20
# Restart workers now and then so a slow leak can never grow without bound.
max_requests = 20_000
max_requests_jitter = 2_000
# "" turns the access log off (benchmarks). Query values that are not known to be safe
# (an emailed link's token) and credential headers never reach it: credits/web_server.py.
accesslog = os.environ.get("CREDITS_ACCESS_LOG", "-") or None
logger_class = SETTINGS["logger_class"]
errorlog = "-"
# The app is built in each worker (its own database pool); preloading would share sockets.
preload_app = False
forwarded_allow_ips = os.environ.get("CREDITS_FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 24+ opens a control socket at one fixed path per user ($HOME/.gunicorn/): two
# servers on one host (docs/scaling.md) would take each other's. Off unless a path is given.
control_socket = os.environ.get("CREDITS_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


def on_starting(server):
    """Start every run with no metrics files left by a previous one (their counters would
    be added to this run's)."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(mode=0o700, parents=True)


def child_exit(server, worker):
    """A worker that exits (max_requests, a crash) keeps its counters but not its gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
