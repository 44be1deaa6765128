"""The one place domain errors and HTTP errors become pages (or JSON for the API)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal.crypto import SealedElsewhere
from portal.errors import DomainError, Invalid
from portal.web.render import templates

log = logging.getLogger("portal")

TITLES = {
    400: "That request could not be used",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    408: "The form took too long to arrive",
    409: "Already exists",
    413: "Too large",
    415: "Unsupported form",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def request_id(request: Request) -> str | None:
    """The id the log lines of this request carry (set by `portal.web.failures`)."""
    return request.scope.get("state", {}).get("request_id")


# Path parameters that are credentials: a calendar feed's token, an enrolment link's
# secret. The access logs are off for their sake (portal.serving); a line about a request
# that failed must not write them either.
_CREDENTIALS = ("token", "secret")


def logged_path(request: Request) -> str:
    """The request's path as the node's log may hold it: a credential in it replaced by
    its parameter's name (`/calendar/{token}`)."""
    path = request.url.path
    params = request.scope.get("path_params") or {}
    for name in _CREDENTIALS:
        value = params.get(name)
        if isinstance(value, str) and value:
            path = path.replace(value, "{" + name + "}")
    return path


def page(
    request: Request,
    status: int,
    message: str,
    headers: dict | None = None,
    *,
    title: str | None = None,
    reference: bool = False,
) -> Response:
    """`reference`: the request's id shown (always for a 5xx), for the administrator's log."""
    title = title or TITLES.get(status, "Error")
    reference = reference or status >= 500
    if request.url.path.startswith("/api/"):
        payload = {"error": title, "detail": message}
        if reference:
            payload["request_id"] = request_id(request)
        return JSONResponse(payload, status_code=status, headers=headers)
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "title": title,
            "message": message,
            "viewer": None,
            "flashes": [],
            "csrf_token": "",
            "request_id": request_id(request) if reference else None,
        },
        status_code=status,
        headers=headers,
    )


async def domain_error(request: Request, error: DomainError) -> Response:
    message = str(error)
    if isinstance(error, Invalid):
        message = " ".join(error.errors.values()) or "Check the form and try again."
    return page(request, error.status_code, message)


async def http_error(request: Request, error: HTTPException) -> Response:
    messages = {
        404: "There is no page at this address, or it is not yours to see.",
        405: "This page cannot be used that way.",
    }
    detail = error.detail if error.detail and error.status_code not in messages else None
    return page(request, error.status_code, detail or messages.get(error.status_code, ""))


def server_error_page(request: Request) -> Response:
    return page(
        request,
        500,
        "The error has been logged. Please try again, and tell your administrator if it "
        "keeps happening, with the reference below.",
    )


def unavailable_page(request: Request, retry_after: int) -> Response:
    return page(
        request,
        503,
        "The portal cannot reach its database just now. Nothing was saved. "
        "Please wait a moment and try again.",
        headers={"Retry-After": str(retry_after)},
    )


def body_timeout_page(request: Request) -> Response:
    # The rest of the body may still arrive: the connection cannot be used for another request.
    return page(
        request,
        408,
        "The form did not arrive in time, so nothing was saved. Please send it again.",
        headers={"Connection": "close"},
    )


async def sealed_elsewhere(request: Request, error: SealedElsewhere) -> Response:
    """A survivor's record that does not open for its place (moved there, or still sealed
    the old way on a node that opens only bound records): nothing of it is shown, and the
    request's work is undone; the operator's log says which place and what to do."""
    log.error(
        "sealed record refused on %s %s [request %s]: %s",
        request.method,
        logged_path(request),
        request_id(request),
        error,
    )
    return page(
        request,
        409,
        "One of this survivor's records cannot be opened here, so nothing of it is shown "
        "and nothing was saved. Tell your administrator, with the reference below.",
        title="A record cannot be opened",
        reference=True,
    )


async def server_error(request: Request, error: Exception) -> Response:
    # Starlette's last resort, behind `portal.web.failures`, which handles errors first.
    log.exception(
        "unhandled error on %s %s [request %s]",
        request.method,
        logged_path(request),
        request_id(request),
    )
    return server_error_page(request)
