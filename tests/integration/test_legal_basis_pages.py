"""Issue 14: a lead records and retires a legal basis on the policy page."""

from __future__ import annotations

from sqlmodel import select

from portal.models import AgencyKind, Discipline, LegalBasis, Role

import factories as make


def test_a_system_agency_lead_records_and_retires_a_basis(client, db, keys):
    agency = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.CHILD_WELFARE)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    token = make.csrf_of_page(client, "/agency/policy")
    bad = client.post(
        "/agency/policy/legal-bases",
        data={"csrf_token": token, "citation": "", "basis_purpose": "mdt_case_review"},
    )
    assert bad.status_code == 400 and "Choose the sections" in bad.text
    assert db.exec(select(LegalBasis)).all() == []
    # The form offers the node's age of majority for a basis for minors.
    assert 'name="under_age" type="number" value="18"' in client.get("/agency/policy").text
    no_age = client.post(
        "/agency/policy/legal-bases",
        data={
            "csrf_token": token,
            "citation": "Synthetic Welfare Code 1.2 (example)",
            "sections": ["safety_plan"],
            "basis_purpose": "mdt_case_review",
            "minors_only": "yes",
            "under_age": "30",
        },
    )
    assert no_age.status_code == 400 and "a whole number from 12 to 21" in no_age.text
    assert 'value="Synthetic Welfare Code 1.2 (example)"' in no_age.text  # kept as typed
    assert db.exec(select(LegalBasis)).all() == []
    made = client.post(
        "/agency/policy/legal-bases",
        data={
            "csrf_token": token,
            "citation": "Synthetic Welfare Code 1.2 (example)",
            "sections": ["safety_plan", "placement_housing"],
            "basis_purpose": "mdt_case_review",
            "minors_only": "yes",
            "under_age": "21",  # the statute's "child" ends at 21, not at majority
        },
    )
    assert made.status_code == 303
    page = client.get("/agency/policy").text
    assert "Synthetic Welfare Code 1.2 (example)" in page and "clients under 21 only" in page
    (basis,) = db.exec(select(LegalBasis)).all()
    retired = client.post(
        f"/agency/policy/legal-bases/{basis.public_id}/retire", data={"csrf_token": token}
    )
    assert retired.status_code == 303
    db.refresh(basis)
    assert basis.retired_at is not None


def test_a_community_agency_is_told_it_shares_only_under_releases(client, db, keys):
    agency = make.agency(db, keys)  # community-based
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    page = client.get("/agency/policy").text
    assert "shares only under the survivor's release" in page
    assert 'action="/agency/policy/legal-bases"' not in page
    token = make.csrf_of_page(client, "/agency/policy")
    refused = client.post(
        "/agency/policy/legal-bases",
        data={
            "csrf_token": token,
            "citation": "Anything",
            "sections": ["safety_plan"],
            "basis_purpose": "mdt_case_review",
        },
    )
    assert refused.status_code == 400
    assert db.exec(select(LegalBasis)).all() == []
