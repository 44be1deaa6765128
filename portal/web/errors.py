"""The one place domain errors and HTTP errors become pages (or JSON for the API)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal.errors import DomainError, Invalid
from portal.web.render import templates

log = logging.getLogger("portal")

TITLES = {
    400: "That request could not be used",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Already exists",
    413: "Too large",
    415: "Unsupported form",
    429: "Too many attempts",
    500: "Something went wrong",
}


def _page(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"error": TITLES.get(status, "Error"), "detail": message}, status_code=status
        )
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "title": TITLES.get(status, "Error"),
            "message": message,
            "viewer": None,
            "flashes": [],
            "csrf_token": "",
        },
        status_code=status,
    )


async def domain_error(request: Request, error: DomainError) -> Response:
    message = str(error)
    if isinstance(error, Invalid):
        message = " ".join(error.errors.values()) or "Check the form and try again."
    return _page(request, error.status_code, message)


async def http_error(request: Request, error: HTTPException) -> Response:
    messages = {
        404: "There is no page at this address, or it is not yours to see.",
        405: "This page cannot be used that way.",
    }
    detail = error.detail if error.detail and error.status_code not in messages else None
    return _page(request, error.status_code, detail or messages.get(error.status_code, ""))


async def server_error(request: Request, error: Exception) -> Response:
    # The trace goes to the operator's log, never to the page.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _page(
        request,
        500,
        "The error has been logged. Please try again, and tell your "
        "administrator if it keeps happening.",
    )
