"""gunicorn settings for production: ``gunicorn -c deploy/gunicorn.conf.py credits.wsgi:app``.

Every value can be overridden from the environment (GUNICORN_CMD_ARGS or the CREDITS_*
settings the app reads itself). Sync workers: each request holds one database connection for
a few milliseconds; measured faster than gthread here (docs/benchmarks.md).

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

os.environ.setdefault("CREDITS_REQUEST_LOG", "json")
# systemd's RuntimeDirectory=credits (deploy/credits.service) gives /run/credits.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    str(Path(os.environ.get("RUNTIME_DIRECTORY", tempfile.gettempdir())) / "credits-metrics"),
)

bind = os.environ.get("CREDITS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CREDITS_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
# Keep-alive helps a reverse proxy reuse connections; sync workers close after each request.
keepalive = 2
timeout = 30
graceful_timeout = 20
# Restart workers now and then so a slow leak can never grow without bound.
max_requests = 20_000
max_requests_jitter = 2_000
# "" turns the access log off (benchmarks).
accesslog = os.environ.get("CREDITS_ACCESS_LOG", "-") or None
errorlog = "-"
# The app is built in each worker (its own database pool); preloading would share sockets.
preload_app = False
forwarded_allow_ips = os.environ.get("CREDITS_FORWARDED_ALLOW_IPS", "127.0.0.1")


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
