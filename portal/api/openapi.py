"""The OpenAPI 3.1 document, built from the same Operation declarations the routes use."""

from __future__ import annotations

from pydantic import BaseModel

from portal.api.schemas import ApiError

API_PREFIX = "/api/v1"
_ERROR_TEXT = {
    400: "Invalid input; `field` names the culprit",
    401: "Missing or bad token",
    403: "The token lacks the scope",
    404: "No such record, or not yours to see",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Body is not JSON",
}


def _ref(model: type[BaseModel], components: dict) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document(operations) -> dict:
    components: dict = {}
    paths: dict = {}
    error_ref = _ref(ApiError, components)
    for op in operations:
        entry: dict = {
            "operationId": op.handler.__name__,
            "summary": op.summary,
            "security": [{"bearer": [op.scope.value]}],
            "parameters": [
                {
                    "name": p.name,
                    "in": p.where,
                    "required": p.where == "path" or p.required,
                    "schema": p.schema,
                    **({"description": p.description} if p.description else {}),
                }
                for p in op.params
            ],
            "responses": {},
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(op.body, components)}},
            }
        ok = {"description": "OK"}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": _ref(op.response, components)}}
        entry["responses"][str(op.status)] = ok
        statuses = set(op.errors) | ({413, 415} if op.body is not None else set())
        for status in sorted(statuses):
            entry["responses"][str(status)] = {
                "description": _ERROR_TEXT.get(status, "Error"),
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MDT Portal API",
            "version": "1",
            "description": "An agency's own systems: its MDT cases, its own sections, and "
            "case summaries through the owner's disclosure point.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A per-agency API token (mdt_…), created by an agency lead.",
                }
            },
        },
    }
