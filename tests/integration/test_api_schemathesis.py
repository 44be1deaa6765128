"""Schemathesis against /api/v1/openapi.json: no 5xx, no response that breaks the schema."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.auth.sessions import Viewer
from portal.models import Role
from portal.services import api_tokens

import factories as make


def test_api_survives_generated_requests(app, db, keys):
    agency = make.agency(db, keys)
    make.mdt_case(db, agency)
    lead = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    issued = api_tokens.create_token(
        db,
        Viewer(lead, agency, frozenset({"agency_lead", "case_manager"}), None),
        name="fuzz",
        scopes=["cases:read", "sections:write", "summary:read"],
        acting_role="case_manager",
        at=make.AT,
    )
    db.flush()
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    for operation in schema.get_all_operations():
        operation = operation.ok()

        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case):
            case.call_and_validate(
                headers={"Authorization": f"Bearer {issued.secret}"}, checks=checks
            )

        run()
