"""gunicorn settings for production: ``gunicorn -c deploy/gunicorn.conf.py credits.wsgi:app``.

Every value can be overridden from the environment (GUNICORN_CMD_ARGS or the CREDITS_*
settings the app reads itself). The worker, logger and request limits are shared with
``credits serve`` (credits/web_server.py says why each is what it is). Sync workers: each
request holds one database connection for a few milliseconds; measured faster than gthread
here (docs/benchmarks.md).
"""

import multiprocessing
import os

from credits.web_server import SETTINGS

bind = os.environ.get("CREDITS_BIND", "127.0.0.1:8000")
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
