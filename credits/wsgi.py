"""The WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn.conf.py credits.wsgi:app``."""

from credits import create_app

app = create_app()
