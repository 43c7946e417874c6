"""Liveness and readiness probes."""

from __future__ import annotations

from sqlalchemy import text

from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.db import RETRY_AFTER_S, is_unavailable
from credits.errors import Unavailable

blp = Blueprint("health", __name__, description="Probes for load balancers and operators")


@blp.route("/healthz")
@blp.response(200, description="The process is up.")
def healthz() -> dict[str, str]:
    """The process is up (does not touch the database)."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.response(200, description="The database answers.")
def readyz() -> dict[str, str]:
    """The database is reachable and takes writes: ready for traffic (503 ``unavailable``
    with ``Retry-After`` otherwise, at the same moment requests would get it)."""
    db = current_services().db
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
            if db.dialect == "postgresql":
                # After a failover a server can answer and still be a standby.
                standby = session.execute(text("SELECT pg_is_in_recovery()")).scalar()
                if standby:
                    raise Unavailable(
                        "the database is a standby: no primary reached yet",
                        retry_after_s=RETRY_AFTER_S,
                    )
    except Unavailable:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        raise Unavailable("the database cannot be reached", retry_after_s=RETRY_AFTER_S) from exc
    return {"status": "ready", "database": db.dialect}
