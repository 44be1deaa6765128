"""Liveness and readiness, for the process supervisor and the load balancer."""

from __future__ import annotations

from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from portal import migrate
from portal.web.context import Context


def healthz(ctx: Context) -> Response:
    return JSONResponse({"status": "ok"})


def readyz(ctx: Context) -> Response:
    try:
        connection = ctx.db.connection()
        connection.execute(text("SELECT 1"))
        current = migrate.current_revision(connection)
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "reachable",
                "migrations": "behind",
                "current": current,
                "head": head,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "reachable", "migrations": "current"})
