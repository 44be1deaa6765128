"""/api/v1 sections and case summaries: the agency's own writes, the owner's disclosure point."""

import disclosure_helpers as dh
from sqlmodel import func, select

from portal.auth.sessions import Viewer
from portal.models import AuditEntry, Role, SectionEntry
from portal.services import api_tokens

import factories as make


def token_for(db, agency, user, role, *scopes):
    """A token the agency's lead issues to act in `role`, which `user` and the lead hold."""
    lead = make.user(db, agency, Role.AGENCY_LEAD, role)
    issued = api_tokens.create_token(
        db,
        Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, role.value}), None),
        name="records system",
        scopes=list(scopes),
        acting_role=role.value,
        at=make.AT,
    )
    db.flush()
    return {"Authorization": f"Bearer {issued.secret}"}


def test_write_own_section_versions_and_refuses_others(client, db, keys):
    w = dh.world(db, keys)
    auth = token_for(db, w.owner, w.owner_staff, Role.CLINICIAN, "sections:write")
    url = f"/api/v1/clients/{w.client.public_id}/sections/medical"
    first = client.put(url, json={"content": {"exam_done": "completed"}}, headers=auth)
    second = client.put(url, json={"content": {"follow_up": "Synthetic follow-up"}}, headers=auth)
    assert first.status_code == 200 and first.json()["version"] == 1
    assert second.json()["version"] == 2
    assert client.get(f"/api/v1/clients?reference={w.client.reference}", headers=auth).json()[
        "items"
    ] == [{"id": w.client.public_id, "reference": w.client.reference}]
    foreign = client.put(
        f"/api/v1/clients/{w.partner_client.public_id}/sections/medical",
        json={"content": {"exam_done": "completed"}},
        headers=auth,
    )
    assert foreign.status_code == 404


def test_bad_section_bodies_name_the_field_and_write_nothing(client, db, keys):
    w = dh.world(db, keys)
    auth = token_for(db, w.owner, w.owner_staff, Role.CLINICIAN, "sections:write")
    url = f"/api/v1/clients/{w.client.public_id}/sections/medical"
    before = db.exec(select(func.count(SectionEntry.id))).one()
    cases = [
        ({"content": {"exam_done": "astrology"}}, 400, "exam_done"),
        ({"content": {}, "extra": 1}, 400, "extra"),
        ({"content": {"exam_done": 5}}, 400, None),
        ({"contents": {}}, 400, "content"),
    ]
    for body, status, field in cases:
        response = client.put(url, json=body, headers=auth)
        assert response.status_code == status, body
        if field:
            assert field in (response.json().get("field") or ""), response.json()
    assert (
        client.put(
            url, content=b"{not json", headers={**auth, "content-type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        client.put(
            url, content=b"x" * 70_000, headers={**auth, "content-type": "application/json"}
        ).status_code
        == 413
    )
    assert (
        client.put(
            f"/api/v1/clients/{w.client.public_id}/sections/astrology",
            json={"content": {}},
            headers=auth,
        ).status_code
        == 404
    )
    assert db.exec(select(func.count(SectionEntry.id))).one() == before


def test_summary_goes_through_the_disclosure_point(client, db, keys):
    w = dh.world(db, keys)
    dh.write(db, keys, w, "medical", {"exam_done": "completed", "follow_up": dh.SECRET_NOTE})
    dh.release(db, keys, w, ["medical"])
    auth = token_for(db, w.partner, w.partner_staff, Role.CASE_MANAGER, "summary:read")
    before = db.exec(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.decision.is_not(None)
        )
    ).one()
    response = client.get(f"/api/v1/cases/{w.case.public_id}/summary", headers=auth)
    assert response.status_code == 200
    owner = next(o for o in response.json()["owners"] if o["agency"] == w.owner.public_id)
    by_key = {s["section"]: s for s in owner["sections"]}
    assert by_key["medical"]["decision"] == "released"
    assert dh.SECRET_NOTE in str(by_key["medical"]["rows"])
    withheld = [s for s in owner["sections"] if s["decision"] == "withheld"]
    assert withheld and all(s["rows"] is None and s["gate"] for s in withheld)
    after = db.exec(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.decision.is_not(None)
        )
    ).one()
    assert after - before == len(owner["sections"])  # one owner entry per decision


def test_summary_of_a_case_the_agency_is_not_on_is_404(client, db, keys):
    w = dh.world(db, keys)
    outsider = make.agency(db, keys)
    user = make.user(db, outsider, Role.CASE_MANAGER)
    auth = token_for(db, outsider, user, Role.CASE_MANAGER, "summary:read")
    assert client.get(f"/api/v1/cases/{w.case.public_id}/summary", headers=auth).status_code == 404
    assert (
        client.get(
            f"/api/v1/cases/{w.case.public_id}/summary?purpose=gossip", headers=auth
        ).status_code
        == 404
    )
