"""Liveness and readiness probes."""

from __future__ import annotations

from sqlalchemy import text

from credits.api.context import services
from credits.api.inputs import Blueprint
from credits.errors import CreditsError

blp = Blueprint("health", __name__, description="Probes for load balancers and operators")


class DatabaseUnavailable(CreditsError):
    code = "unavailable"
    status = 503
    title = "The database cannot be reached"


@blp.route("/healthz")
@blp.response(200, description="The process is up.")
def healthz() -> dict[str, str]:
    """The process is up (does not touch the database)."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.response(200, description="The database answers.")
def readyz() -> dict[str, str]:
    """The database is reachable: ready for traffic."""
    try:
        with services().db.read() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        raise DatabaseUnavailable("the database did not answer") from exc
    return {"status": "ready", "database": services().db.dialect}
