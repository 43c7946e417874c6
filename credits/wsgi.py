"""The WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn.conf.py credits.wsgi:app``.

A worker starts even while the database is unreachable (it answers 503 until the database is
back): gunicorn stops the whole server when a worker fails to boot, and a worker restarted
during a database outage or failover must not take the service down with it. Run
``credits init-db`` (which refuses nothing) before starting; ``credits serve`` checks first.
"""

from credits import create_app
from credits.services import Services

app = create_app(services=Services.build(check_migrations="when-reachable"))
