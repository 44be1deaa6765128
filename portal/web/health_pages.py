"""Liveness and readiness, for the process supervisor and the load balancer."""

from __future__ import annotations

import anyio
from sqlalchemy import Engine, text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal import migrate
from portal.auth.permissions import Permission
from portal.db import READ_ONLY
from portal.db_faults import RETRY_AFTER_SECONDS
from portal.web.context import Context

# The load balancer asks often and must get an answer: past this, "not ready".
READINESS_BUDGET_SECONDS = 2.0


def healthz(ctx: Context) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Served outside the route guard: no session, no write lock, a bounded wait.

    The probe reads in a transaction that takes no write lock (SQLite in WAL mode reads
    while another process writes), and its answer is due within the budget whatever the
    database does: a thread still waiting on it is left to its own timeouts.
    """
    engine = request.app.state.engine
    with anyio.move_on_after(READINESS_BUDGET_SECONDS):
        try:
            current = await anyio.to_thread.run_sync(
                _current_revision, engine, abandon_on_cancel=True
            )
        except Exception:
            return _unavailable({"database": "unreachable"})
        head = migrate.head_revision()
        if current != head:
            state = "behind" if current is None or migrate.known_revision(current) else "newer"
            return _unavailable(
                {"database": "reachable", "migrations": state, "current": current, "head": head}
            )
        return JSONResponse({"status": "ok", "database": "reachable", "migrations": "current"})
    return _unavailable({"database": "not answering"})


readyz.permission = Permission.PUBLIC


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        connection.execute(text("SELECT 1"))
        current = migrate.current_revision(connection)
        connection.rollback()
        return current


def _unavailable(detail: dict) -> Response:
    return JSONResponse(
        {"status": "unavailable", **detail},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
