"""The /api/v1 route table and its OpenAPI document."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from portal.api import case_endpoints, openapi, section_endpoints
from portal.api.routing import api_route
from portal.auth.permissions import Permission

OPERATIONS = (*case_endpoints.OPERATIONS, *section_endpoints.OPERATIONS)


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi.document(OPERATIONS))


openapi_json.permission = Permission.PUBLIC  # describes the API; holds no data


def api_routes() -> list:
    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *(api_route(op) for op in OPERATIONS),
    ]
