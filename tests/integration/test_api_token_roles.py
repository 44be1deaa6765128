"""A token acts in one role, with the web's rules (issue 12, finding 3).

The lead binds each token to one role they hold themselves; every API call then passes the
same permission table and the same services as a person in that role on the web, and a
section outside the agency's discipline is refused with 422. A token whose lead no longer
holds its role ends, and the API refuses it.
"""

from __future__ import annotations

import disclosure_helpers as dh
import pytest
from sqlmodel import func, select

from portal.api.routes import OPERATIONS
from portal.auth.permissions import allows, caseload_only
from portal.auth.sessions import Viewer
from portal.disclosure import policy
from portal.errors import Invalid
from portal.models import (
    AgencyKind,
    ApiToken,
    AuditEntry,
    Discipline,
    Role,
    SectionEntry,
    StaffRole,
)
from portal.sections import catalogue
from portal.services import api_tokens

import factories as make

ALL_SCOPES = ["cases:read", "sections:write", "summary:read"]
TOKEN_ROLES = [r for r in Role if r is not Role.ADMINISTRATOR]


def _token(db, agency, role: str, scopes=ALL_SCOPES) -> dict:
    """A token made by a lead who holds `role` too: the only kind a lead can make."""
    lead = make.user(db, agency, Role.AGENCY_LEAD, Role(role))
    issued = api_tokens.create_token(
        db,
        Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, role}), None),
        name="records system",
        scopes=scopes,
        acting_role=role,
        at=make.AT,
    )
    db.flush()
    return {"Authorization": f"Bearer {issued.secret}"}


# Each API operation beside the web page that does the same thing: (method, API path,
# web method, web path, web form). A new operation without its web twin fails the test.
def _pairs(w):
    client, case = w.client.public_id, w.case.public_id
    return {
        "/cases": ("GET", "/api/v1/cases", "GET", "/", None),
        "/cases/{case_id}": ("GET", f"/api/v1/cases/{case}", "GET", f"/cases/{case}", None),
        "/clients": (
            "GET",
            f"/api/v1/clients?reference={w.client.reference}",
            "GET",
            "/clients",
            None,
        ),
        "/clients/{client_id}/sections/{section_key}": (
            "PUT",
            f"/api/v1/clients/{client}/sections/medical",
            "POST",
            f"/clients/{client}/sections/medical",
            {"exam_done": "completed"},
        ),
        "/cases/{case_id}/summary": (
            "GET",
            f"/api/v1/cases/{case}/summary",
            "GET",
            f"/cases/{case}/summary",
            None,
        ),
    }


@pytest.mark.parametrize("role", TOKEN_ROLES, ids=str)
def test_every_api_call_answers_as_the_web_does_for_the_tokens_role(client, db, keys, role):
    w = dh.world(db, keys)  # the owner is a health agency: it keeps `medical`
    person = make.user(db, w.owner, role)
    auth = _token(db, w.owner, role.value)
    make.login(client, person.username)
    csrf = make.csrf_of_page(client, "/account")
    pairs = _pairs(w)
    assert {op.path for op in OPERATIONS} == set(pairs)
    for operation in OPERATIONS:
        api_method, api_path, web_method, web_path, form = pairs[operation.path]
        if web_method == "GET":
            web = client.get(web_path)
        else:
            web = client.post(web_path, data={"csrf_token": csrf, **form})
        body = {"content": form} if form else None
        api = client.request(api_method, api_path, headers=auth, json=body)
        web_refused, api_refused = web.status_code == 403, api.status_code == 403
        assert api_refused == web_refused, (operation.path, web.status_code, api.status_code)
        if not allows(frozenset({role.value}), operation.permission):
            assert api_refused, operation.path
        elif caseload_only(frozenset({role.value})) and (
            "{case_id}" in operation.path or "{client_id}" in operation.path
        ):
            # A mentor opens only the cases and clients of their caseload: neither the
            # person nor the token's lead holds these, and both answer as if they did not
            # exist.
            assert web.status_code == api.status_code == 404, operation.path
        else:
            assert api.status_code in (200, 403), (operation.path, api.text)


def test_a_token_as_lead_cannot_write_what_the_lead_cannot_on_the_web(client, db, keys):
    w = dh.world(db, keys)
    auth = _token(db, w.owner, Role.AGENCY_LEAD.value)
    before = db.exec(select(func.count(SectionEntry.id))).one()
    response = client.put(
        f"/api/v1/clients/{w.client.public_id}/sections/medical",
        json={"content": {"exam_done": "completed"}},
        headers=auth,
    )
    assert response.status_code == 403 and "agency_lead" in response.json()["error"]
    assert db.exec(select(func.count(SectionEntry.id))).one() == before


def _withheld_from_own_role(agency):
    """A (role, section) the permission table lets write but the owner's policy withholds."""
    in_force = policy.OwnerPolicy(policy.default_lines())
    for section in catalogue().for_discipline(agency.discipline):
        if not section.editable:
            continue
        for role in TOKEN_ROLES:
            if not allows(frozenset({role.value}), operation_permission("PUT")):
                continue
            answer, _ = policy.decide(
                in_force,
                agency,
                kind=policy.OWN,
                roles={role.value},
                section=section.key,
                purpose="mdt_case_review",
            )
            if not answer.allowed:
                return role, section
    return None


def operation_permission(method: str):
    return next(op.permission for op in OPERATIONS if op.method == method)


def test_a_token_is_refused_a_section_its_roles_policy_withholds_and_it_is_audited(
    client, db, keys
):
    owner = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.LAW_ENFORCEMENT)
    found = _withheld_from_own_role(owner)
    assert found, "the default policy withholds some section from some own role"
    role, section = found
    make.user(db, owner, role)
    record = make.client_record(db, owner, keys)
    auth = _token(db, owner, role.value, ["sections:write"])
    field = next(f for f in section.fields if f.type in ("text", "textarea"))
    response = client.put(
        f"/api/v1/clients/{record.public_id}/sections/{section.key}",
        json={"content": {field.key: "Synthetic note"}},
        headers=auth,
    )
    assert response.status_code == 403 and "Not saved" in response.json()["error"]
    refusal = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == owner.id,
            AuditEntry.section_key == section.key,
            AuditEntry.decision == "withheld",
        )
    ).first()
    assert refusal is not None and refusal.actor_role == role.value


@pytest.mark.parametrize("section", ["investigation", "medical"])
def test_a_section_outside_the_agencys_discipline_is_422(client, db, keys, section):
    welfare = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.CHILD_WELFARE)
    make.user(db, welfare, Role.CASE_MANAGER)
    record = make.client_record(db, welfare, keys)
    auth = _token(db, welfare, Role.CASE_MANAGER.value, ["sections:write"])
    fields = catalogue().get(section).fields
    field = next(f for f in fields if f.type in ("text", "textarea"))
    response = client.put(
        f"/api/v1/clients/{record.public_id}/sections/{section}",
        json={"content": {field.key: "Synthetic"}},
        headers=auth,
    )
    assert response.status_code == 422 and response.json()["field"] == "section"
    assert db.exec(select(SectionEntry).where(SectionEntry.client_id == record.id)).first() is None


def test_the_lead_binds_a_token_to_a_role_they_hold(db, keys):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD, Role.CLINICIAN)
    make.user(db, agency, Role.INVESTIGATOR)
    viewer = Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, Role.CLINICIAN.value}), None)
    issued = api_tokens.create_token(
        db, viewer, name="ehr", scopes=["sections:write"], acting_role="clinician", at=make.AT
    )
    assert issued.token.acting_role == "clinician"
    for not_theirs in ("investigator", "administrator", "astrologer"):
        with pytest.raises(Invalid):
            api_tokens.create_token(
                db, viewer, name="x", scopes=["cases:read"], acting_role=not_theirs, at=make.AT
            )


def _post(client, path, **data):
    return client.post(path, data={"csrf_token": make.csrf_of_page(client, "/account"), **data})


def _tokens(db) -> int:
    return db.exec(select(func.count(ApiToken.id))).one()


def test_a_lead_cannot_make_a_token_act_in_a_role_they_do_not_hold(client, db, keys):
    """Before: the form offered, and creating accepted, any role the agency's staff held, so
    a lead who is not a clinician made a token acting as one and, through the API, read what
    the policy gives clinicians only: a privilege the lead never had."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.user(db, agency, Role.CLINICIAN)
    make.login(client, lead.username)
    form = client.get("/admin/api-tokens").text
    assert '<option value="agency_lead"' in form and '<option value="clinician"' not in form
    before = _tokens(db)
    answer = _post(
        client,
        "/admin/api-tokens",
        name="records system (synthetic)",
        scopes=["summary:read"],
        acting_role="clinician",
    )
    assert answer.status_code == 400 and "a role you hold" in answer.text
    assert 'value="records system (synthetic)"' in answer.text  # the form keeps its values
    assert _tokens(db) == before


def _issued_on_the_page(client, role: str) -> str:
    made = _post(
        client,
        "/admin/api-tokens",
        name="records system (synthetic)",
        scopes=["cases:read"],
        acting_role=role,
    )
    assert made.status_code == 200, made.text
    return made.text.split('<code class="secret">')[1].split("<")[0]


def test_a_token_ends_when_its_lead_loses_its_role(client, db, keys):
    """Before: a token lived while anyone in the agency held its role, so a lead whose case
    manager role was taken kept, through the token, what the role reads."""
    agency = make.agency(db, keys)
    issuer = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    other_lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.user(db, agency, Role.CASE_MANAGER)  # the role is still held in the agency
    make.login(client, issuer.username)
    auth = {"Authorization": f"Bearer {_issued_on_the_page(client, 'case_manager')}"}
    assert client.get("/api/v1/cases", headers=auth).status_code == 200
    client.cookies.clear()
    make.login(client, other_lead.username)
    roles = f"/admin/staff/{issuer.public_id}/roles"
    asked = _post(client, roles, roles=["agency_lead"])  # the page asks first: a token ends
    assert asked.status_code == 200 and "The 1 API token" in asked.text
    assert client.get("/api/v1/cases", headers=auth).status_code == 200
    assert _post(client, roles, roles=["agency_lead"], tokens_ending="1").status_code == 303
    assert client.get("/api/v1/cases", headers=auth).status_code == 401
    token = db.exec(select(ApiToken).where(ApiToken.acting_user_id == issuer.id)).one()
    assert token.revoked_at is not None
    ended = db.exec(
        select(AuditEntry).where(
            AuditEntry.tag == "admin:api_token:revoked", AuditEntry.subject == token.public_id
        )
    ).one()
    assert ended.agency_id == agency.id and "no longer holds its role" in ended.detail
    # Given the role again, the lead does not get the old token back.
    assert _post(client, roles, roles=["agency_lead", "case_manager"]).status_code == 303
    assert client.get("/api/v1/cases", headers=auth).status_code == 401


def test_the_api_refuses_a_token_whose_lead_does_not_hold_its_role(client, db, keys):
    """A token the services did not end (made before the rule, or its lead's role taken
    outside the portal's pages) is refused at the moment of use, and does not start working
    when the lead is given the role."""
    agency = make.agency(db, keys)
    issuer = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    other_lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.user(db, agency, Role.CASE_MANAGER)
    auth = _token_of(db, agency, issuer, Role.CASE_MANAGER)
    assert client.get("/api/v1/cases", headers=auth).status_code == 200
    for row in db.exec(
        select(StaffRole).where(
            StaffRole.user_id == issuer.id, StaffRole.role == Role.CASE_MANAGER.value
        )
    ):
        db.delete(row)
    db.flush()
    assert client.get("/api/v1/cases", headers=auth).status_code == 401
    make.login(client, other_lead.username)
    roles = f"/admin/staff/{issuer.public_id}/roles"
    assert _post(client, roles, roles=["agency_lead", "case_manager"]).status_code == 303
    assert client.get("/api/v1/cases", headers=auth).status_code == 401


def _token_of(db, agency, lead, role: Role) -> dict:
    issued = api_tokens.create_token(
        db,
        Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, role.value}), None),
        name="records system (synthetic)",
        scopes=["cases:read"],
        acting_role=role.value,
        at=make.AT,
    )
    db.flush()
    return {"Authorization": f"Bearer {issued.secret}"}
