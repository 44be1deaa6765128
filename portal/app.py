"""create_app(settings): routes, middleware, lifespan — nothing else."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount, Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from portal.audit.checkpoints import CheckpointSigner
from portal.audit.journal import Journal
from portal.auth.throttle import LoginThrottle
from portal.crypto import SealedElsewhere
from portal.db import make_engine
from portal.errors import DomainError
from portal.federation.throttle import NoticeRules, NoticeThrottle
from portal.federation.transport import Federation
from portal.serving import RequestThreads
from portal.settings import Settings
from portal.web import errors
from portal.web.edge import EdgeChecks
from portal.web.failures import Failures
from portal.web.routes import routes
from portal.web.security import SecurityHeaders


def create_app(settings: Settings, *, engine: Engine | None = None, bind=None) -> Starlette:
    """`bind` lets tests run every request inside their own outer transaction."""
    engine = engine or make_engine(
        settings.database_url, lock_wait_ms=settings.database_lock_wait_ms
    )
    table = routes()
    _refuse_unguarded(table)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        app.state.federation.close()
        if bind is None:
            engine.dispose()

    app = Starlette(
        routes=table,
        middleware=[
            # Outermost: every layer below sees the client the trusted proxy names.
            *(
                [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))]
                if settings.trusted_proxies
                else []
            ),
            Middleware(SecurityHeaders, hsts=settings.cookie_secure),
            Middleware(Failures),
            Middleware(EdgeChecks, body_timeout=settings.body_timeout_seconds),
            Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts),
        ],
        exception_handlers={
            DomainError: errors.domain_error,
            HTTPException: errors.http_error,
            # Moved, or sealed the old way where PORTAL_SEALED_BOUND_ONLY is set: never shown
            SealedElsewhere: errors.sealed_elsewhere,
            Exception: errors.server_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.keys = settings.key_wrapper()
    # Every request's session can sign the audit checkpoint its appends fall due for.
    signer = CheckpointSigner(app.state.keys)
    journal = Journal(settings.audit_journal) if settings.audit_journal else None
    app.state.journal = journal

    def prepared(session: Session) -> Session:
        signer.attach(session)
        return journal.attach(session) if journal is not None else session

    if bind is None:
        app.state.open_session = lambda: prepared(Session(engine, expire_on_commit=False))
    else:
        # Each request's commit releases a savepoint inside the test's own transaction.
        app.state.open_session = lambda: prepared(
            Session(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
        )
    # The client for other nodes (issue 16): connections kept across requests.
    app.state.federation = Federation(
        timeout_seconds=settings.federation_timeout_ms / 1000,
        window_seconds=settings.federation_window_seconds,
        clock=settings.clock,
    )
    app.state.login_throttle = LoginThrottle(
        settings.ratelimit_storage, node_key=str(settings.secrets.session_key)
    )
    app.state.notice_throttle = NoticeThrottle(
        settings.ratelimit_storage,
        NoticeRules(settings.federation_notices_per_window, settings.federation_notice_window_s),
        node_key=str(settings.secrets.session_key),
    )
    app.state.request_threads = RequestThreads(settings.request_threads)
    app.state.session_idle = timedelta(minutes=settings.session_idle_minutes)
    app.state.session_absolute = timedelta(hours=settings.session_absolute_hours)
    return app


def _refuse_unguarded(table: list) -> None:
    """Deny by default, at start-up: a route that states no permission stops the app."""
    for item in table:
        if isinstance(item, Mount) and item.routes:
            _refuse_unguarded(item.routes)
            continue
        target = item.endpoint if isinstance(item, Route) else getattr(item, "app", None)
        if getattr(target, "permission", None) is None:
            raise RuntimeError(f"route {getattr(item, 'path', '?')} states no permission")
