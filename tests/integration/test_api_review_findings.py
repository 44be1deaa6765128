"""/api/v1 and API tokens, as a review found them: the audit names the token a read or a
save went through; a section write with a key the section does not have is refused, not
dropped; a caller without a valid token learns nothing of what the body would need; the
OpenAPI document lists every query parameter a handler reads.

Synthetic data only (tests/factories.py, tests/disclosure_helpers.py).
"""

from __future__ import annotations

import disclosure_helpers as dh
from sqlmodel import select

from portal.auth.sessions import Viewer
from portal.models import AuditEntry, Role, SectionEntry, StaffRole
from portal.services import api_tokens, section_versions

import factories as make


def _lead(db, agency, role: Role):
    """An agency lead who also holds `role`, as a lead must to make a token acting in it."""
    return make.user(db, agency, Role.AGENCY_LEAD, role)


def _issue(db, agency, lead, role: Role, *scopes):
    issued = api_tokens.create_token(
        db,
        Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, role.value}), None),
        name="records system (synthetic)",
        scopes=list(scopes),
        acting_role=role.value,
        at=make.AT,
    )
    db.flush()
    return issued, {"Authorization": f"Bearer {issued.secret}"}


def _roles_of(db, user) -> set[str]:
    return set(db.exec(select(StaffRole.role).where(StaffRole.user_id == user.id)).all())


def _last_id(db) -> int:
    return db.exec(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first() or 0


# --------------------------------------------------------------------------- 1. audit truth


def test_api_reads_name_the_token_they_went_through(client, db, keys):
    """The owner's log (and the receiver's) must say truly who read: a read made by a
    system with a token is logged as the lead personally, acting in a role the lead does
    not hold, and nothing in the entry says a token made it. An agency lead answering "who
    saw what of ours", or a survivor's accounting of disclosures, names a person who never
    looked; a leaked token's reads cannot be told from the lead's own. (A token now acts
    only in a role its lead holds; the entry must still name the token.)"""
    w = dh.world(db, keys)
    dh.write(db, keys, w, "medical", {"exam_done": "completed", "follow_up": dh.SECRET_NOTE})
    dh.release(db, keys, w, ["medical"])
    lead = _lead(db, w.partner, Role.CASE_MANAGER)
    issued, auth = _issue(db, w.partner, lead, Role.CASE_MANAGER, "summary:read")
    since = _last_id(db)

    response = client.get(f"/api/v1/cases/{w.case.public_id}/summary", headers=auth)
    assert response.status_code == 200, response.text

    released = db.exec(
        select(AuditEntry).where(
            AuditEntry.id > since,
            AuditEntry.agency_id == w.owner.id,
            AuditEntry.section_key == "medical",
            AuditEntry.decision == "released",
        )
    ).one()
    lead_roles = _roles_of(db, lead)
    assert issued.token.public_id in released.detail, (
        f"the owner's log says user {lead.public_id} (roles {sorted(lead_roles)}) read "
        f"'medical' as {released.actor_role!r}; the read was made with API token "
        f"{issued.token.public_id}, which the entry never names: detail={released.detail}"
    )


def test_api_section_write_names_the_token_it_went_through(client, db, keys):
    """A version written by a system with a token is stored as authored by the lead (and
    audited as the lead's save), though the lead's own role may not write sections at all
    (Permission.SECTION_WRITE excludes agency_lead; the web answers the lead 403). The
    section's history then tells staff the lead wrote clinical notes they never wrote. (A
    token now acts only in a role its lead holds; the save must still name the token.)"""
    w = dh.world(db, keys)
    lead = _lead(db, w.owner, Role.CLINICIAN)
    issued, auth = _issue(db, w.owner, lead, Role.CLINICIAN, "sections:write")
    since = _last_id(db)
    api = client.put(
        f"/api/v1/clients/{w.client.public_id}/sections/medical",
        json={"content": {"exam_done": "completed"}},
        headers=auth,
    )
    assert api.status_code == 200, api.text
    entry = db.exec(
        select(SectionEntry).where(
            SectionEntry.client_id == w.client.id, SectionEntry.section_key == "medical"
        )
    ).one()
    saved = db.exec(
        select(AuditEntry).where(AuditEntry.id > since, AuditEntry.tag.like("%section%saved%"))
    ).first()
    names_token = saved is not None and issued.token.public_id in saved.detail
    assert names_token, (
        f"version {entry.version} of 'medical' is stored as written by the lead "
        f"{lead.public_id}; the save's audit entry does not name the token: "
        f"{saved.detail if saved is not None else None}"
    )


# --------------------------------------------------------------------------- 3. lost data


def test_api_section_write_silently_drops_fields_it_does_not_know_and_answers_saved(
    client, db, keys
):
    """`content` keys that are not fields of the section are dropped without a word: a
    misspelt key (or a field the section does not hold, such as a new given name sent to
    `identity`) answers 200 "saved" while what was sent is not stored anywhere."""
    w = dh.world(db, keys)
    make.user(db, w.owner, Role.CLINICIAN)
    lead = _lead(db, w.owner, Role.CLINICIAN)
    _issued, auth = _issue(db, w.owner, lead, Role.CLINICIAN, "sections:write")
    response = client.put(
        f"/api/v1/clients/{w.client.public_id}/sections/medical",
        json={"content": {"exam_done": "completed", "folow_up": dh.SECRET_NOTE}},
        headers=auth,
    )
    stored = db.exec(
        select(SectionEntry).where(
            SectionEntry.client_id == w.client.id, SectionEntry.section_key == "medical"
        )
    ).first()
    content = section_versions.open_content(db, stored, keys=keys) if stored else None
    assert response.status_code == 400 and response.json().get("field") == "folow_up", (
        f"answered {response.status_code} {response.json()}; stored content {content}: "
        "the note sent under 'folow_up' was dropped silently"
    )


# ------------------------------------------------------------------- 4. answers and document


def test_a_bad_token_with_a_bad_body_is_answered_400_not_401(client, db, keys):
    """The body is read and judged before the token: a caller with no valid token gets the
    body's validation messages (400/413/415) instead of 401, contrary to the OpenAPI
    document (401: missing or bad token) and to deny by default."""
    w = dh.world(db, keys)
    response = client.put(
        f"/api/v1/clients/{w.client.public_id}/sections/medical",
        content=b"{not json",
        headers={
            "Authorization": "Bearer mdt_not-a-real-token",
            "content-type": "application/json",
        },
    )
    assert response.status_code == 401, (response.status_code, response.json())


def test_openapi_document_omits_the_purpose_query_the_section_write_reads(client, db, keys):
    """PUT /clients/{client_id}/sections/{section_key} reads `purpose` from the query (a bad
    one answers 400, and it changes which sections the token's role may save), but the
    OpenAPI document does not list the parameter."""
    w = dh.world(db, keys)
    lead = _lead(db, w.owner, Role.CLINICIAN)
    _issued, auth = _issue(db, w.owner, lead, Role.CLINICIAN, "sections:write")
    response = client.put(
        f"/api/v1/clients/{w.client.public_id}/sections/medical?purpose=gossip",
        json={"content": {"exam_done": "completed"}},
        headers=auth,
    )
    assert response.status_code == 400 and response.json()["field"] == "purpose"
    document = client.get("/api/v1/openapi.json").json()
    put = document["paths"]["/api/v1/clients/{client_id}/sections/{section_key}"]["put"]
    names = sorted(p["name"] for p in put["parameters"])
    assert "purpose" in names, f"the handler reads ?purpose= but the document lists only {names}"


def test_a_read_through_the_api_writes_when_the_token_was_last_used_at_most_each_minute(
    client, db, keys, clock
):
    """`last_used_at` was written on every call: every GET through the API was a write (on
    SQLite, the node's one write lock). It is kept to the minute."""
    w = dh.world(db, keys)
    lead = _lead(db, w.partner, Role.CASE_MANAGER)
    issued, auth = _issue(db, w.partner, lead, Role.CASE_MANAGER, "cases:read")
    assert client.get("/api/v1/cases", headers=auth).status_code == 200
    db.refresh(issued.token)
    first = issued.token.last_used_at
    assert first is not None
    clock.advance(seconds=30)
    assert client.get("/api/v1/cases", headers=auth).status_code == 200
    db.refresh(issued.token)
    assert issued.token.last_used_at == first
    clock.advance(seconds=40)
    assert client.get("/api/v1/cases", headers=auth).status_code == 200
    db.refresh(issued.token)
    assert issued.token.last_used_at > first
