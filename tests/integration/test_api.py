"""/api/v1: tokens, scopes, JSON errors, and the OpenAPI document matching the routes."""

import pytest
from sqlmodel import select
from starlette.routing import Mount, Route

from portal.models import ApiToken, AuditEntry, Role
from portal.services import api_tokens, cases
from portal.web.routes import routes

import factories as make


def issue(db, agency, *scopes, role=Role.CASE_MANAGER):
    """A token its agency's lead issues, acting in the role `user` and the lead hold."""
    user = make.user(db, agency, role)
    lead = make.user(db, agency, Role.AGENCY_LEAD, role)
    from portal.auth.sessions import Viewer

    viewer = Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, role.value}), None)
    issued = api_tokens.create_token(
        db, viewer, name="records system", scopes=list(scopes), acting_role=role.value, at=make.AT
    )
    db.flush()
    return issued, user


def bearer(issued):
    return {"Authorization": f"Bearer {issued.secret}"}


def test_list_and_get_cases_for_the_tokens_agency_only(client, db, keys):
    agency, other = make.agency(db, keys), make.agency(db, keys)
    mine = make.mdt_case(db, agency)
    theirs = make.mdt_case(db, other)
    issued, _ = issue(db, agency, "cases:read")
    listing = client.get("/api/v1/cases", headers=bearer(issued))
    assert listing.status_code == 200
    body = listing.json()
    assert [c["reference"] for c in body["items"]] == [mine.reference] and body["total"] == 1
    assert (
        client.get(f"/api/v1/cases/{mine.public_id}", headers=bearer(issued)).json()["reference"]
        == mine.reference
    )
    hidden = client.get(f"/api/v1/cases/{theirs.public_id}", headers=bearer(issued))
    missing = client.get("/api/v1/cases/not-a-case", headers=bearer(issued))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert listing.headers["cache-control"] == "no-store"


def test_bad_tokens_are_401_and_missing_scope_is_403(client, db, keys):
    agency = make.agency(db, keys)
    issued, user = issue(db, agency, "summary:read")
    assert client.get("/api/v1/cases").status_code == 401
    assert (
        client.get("/api/v1/cases", headers={"Authorization": "Bearer mdt_nope"}).status_code == 401
    )
    assert client.get("/api/v1/cases", headers=bearer(issued)).status_code == 403
    user.is_active = False  # another holder of the role leaves: the lead's tokens still work
    db.flush()
    issued2, _ = issue(db, agency, "cases:read")
    assert client.get("/api/v1/cases", headers=bearer(issued2)).status_code == 200


def test_revoked_token_stops_at_once(client, db, keys):
    agency = make.agency(db, keys)
    issued, user = issue(db, agency, "cases:read")
    from portal.auth.sessions import Viewer

    api_tokens.revoke_token(
        db, Viewer(user, agency, frozenset(), None), issued.token.public_id, at=make.AT
    )
    db.flush()
    assert client.get("/api/v1/cases", headers=bearer(issued)).status_code == 401


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "offset=-1", "limit=100000"])
def test_bad_query_values_are_400_naming_the_field(client, db, keys, query):
    issued, _ = issue(db, make.agency(db, keys), "cases:read")
    response = client.get(f"/api/v1/cases?{query}", headers=bearer(issued))
    assert response.status_code == 400
    assert response.json()["field"] == query.split("=")[0]


def test_token_secret_is_stored_hashed_and_creation_audited(db, keys):
    issued, _ = issue(db, make.agency(db, keys), "cases:read")
    stored = db.exec(select(ApiToken).where(ApiToken.id == issued.token.id)).one()
    assert issued.secret not in stored.token_hash
    assert db.exec(select(AuditEntry).where(AuditEntry.tag == "admin:api_token:created")).first()


def test_lead_creates_and_revokes_a_token_in_the_portal(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, Role.AGENCY_LEAD, username="token.lead")
    make.login(client, "token.lead")
    token = make.csrf_of_page(client, "/admin/api-tokens")
    bad = client.post(
        "/admin/api-tokens", data={"csrf_token": token, "name": "", "acting_role": "administrator"}
    )
    assert bad.status_code == 400 and "Choose at least one scope" in bad.text
    made = client.post(
        "/admin/api-tokens",
        data={
            "csrf_token": token,
            "name": "case system",
            "scopes": ["cases:read"],
            "acting_role": "agency_lead",
        },
    )
    assert made.status_code == 200
    secret = made.text.split('<code class="secret">')[1].split("<")[0]
    assert (
        client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    assert secret not in client.get("/admin/api-tokens").text  # shown once only
    row = db.exec(select(ApiToken).where(ApiToken.name == "case system")).one()
    client.post(f"/admin/api-tokens/{row.public_id}/revoke", data={"csrf_token": token})
    assert (
        client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )


def test_openapi_document_matches_the_routes(client):
    document = client.get("/api/v1/openapi.json").json()
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    api_mount = next(r for r in routes() if isinstance(r, Mount) and r.path == "/api/v1")
    registered = {
        (method, "/api/v1" + route.path)
        for route in api_mount.routes
        if isinstance(route, Route) and route.path != "/openapi.json"
        for method in route.methods - {"HEAD"}
    }
    assert documented == registered


def test_case_rows_count_matches_listing(db, keys):
    agency = make.agency(db, keys)
    for _ in range(3):
        make.mdt_case(db, agency)
    assert cases.count_cases_for_agency(db, agency) == 3
