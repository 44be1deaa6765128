"""What a handler receives besides the request: the unit of work and who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request

from portal.auth.sessions import Viewer
from portal.requester import Requester
from portal.settings import Settings


@dataclass
class Context:
    request: Request
    db: Session
    settings: Settings
    now: datetime
    viewer: Viewer | None
    form: FormData | None
    # Set by a handler whose failure response must still keep its audit entries (a failed
    # sign-in is evidence); everywhere else a 4xx or 5xx rolls the whole request back.
    keep_on_error: bool = False
    new_session_token: str | None = None
    end_session_cookie: bool = False
    flashes: list[dict] = field(default_factory=list)

    @property
    def requester(self) -> Requester:
        """Who is asking, as everything below the handlers takes it (for the default
        purpose; `.asking(purpose)` for another)."""
        viewer = self.viewer
        return Requester.of(viewer.user, viewer.agency, viewer.roles)

    @property
    def address(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    @property
    def user_agent(self) -> str | None:
        return self.request.headers.get("user-agent")

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else ""

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v for v in self.form.getlist(name) if isinstance(v, str)]

    def flash(self, message: str, kind: str = "info") -> None:
        from portal.auth.sessions import push_flash

        if self.viewer is not None:
            push_flash(self.viewer.session, message, kind)
