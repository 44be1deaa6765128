"""Policy, legal bases and the admin pages for agencies and staff, as a review found them.
Each test is named after a defect the review found and failed before it was fixed."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, timedelta

from disclosure_helpers import SECRET_NOTE, release, world, write
from page_text import page_text
from sqlmodel import select
from starlette.testclient import TestClient

from portal.disclosure import Released, disclose
from portal.models import AgencyKind, AuditEntry, Discipline, Role, StaffRole
from portal.requester import Requester
from portal.services import cases, legal_bases

import factories as make

CITATION = "Synthetic Welfare Code 12.3 (example)"


def _roles(db, user):
    return sorted(db.exec(select(StaffRole.role).where(StaffRole.user_id == user.id)).all())


# --- staff and administrator -------------------------------------------------------------


def test_administrator_can_turn_an_agencys_lead_into_an_administrator(client, db, keys):
    """An administrator changes roles only to name a lead-less agency's lead: never in an
    agency that has a lead (services/staff.py _check_administrator_sets). Setting the
    roles to just "administrator" slips past: the agency loses its lead, and the node's
    administrator may then add that agency's 'first' lead and is handed its enrolment link."""
    target = make.agency(db, keys)
    lead = make.user(db, target, Role.AGENCY_LEAD)
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    token = make.csrf_of_page(client, f"/admin/staff/{lead.public_id}")
    response = client.post(
        f"/admin/staff/{lead.public_id}/roles",
        data={"csrf_token": token, "roles": ["administrator"]},
    )
    assert response.status_code == 403 and _roles(db, lead) == ["agency_lead"], (
        f"the administrator changed the roles of {target.name}'s lead, which has a lead "
        f"(HTTP {response.status_code}); the lead now holds {_roles(db, lead)}"
    )


def test_administrator_deposes_a_lead_and_is_handed_a_new_leads_link(client, db, keys):
    """The administrator may not add staff or change roles where an agency has a lead, but
    may deactivate that lead (services/staff.py deactivate has no administrator check);
    the agency is then "lead-less" and the administrator adds its new lead and is shown
    the enrolment link: an account the administrator opens, in an agency with survivors."""
    target = make.agency(db, keys)
    lead = make.user(db, target, Role.AGENCY_LEAD)
    make.client_record(db, target, keys)
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    token = make.csrf_of_page(client, f"/admin/staff/{lead.public_id}")
    gone = client.post(f"/admin/staff/{lead.public_id}/deactivate", data={"csrf_token": token})
    made = client.post(
        f"/admin/agencies/{target.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Installed Lead",
            "username": "installed.lead",
            "roles": ["agency_lead"],
        },
    )
    db.refresh(lead)
    assert gone.status_code == 403 and lead.is_active and "/enrol/" not in made.text, (
        f"the administrator deactivated {target.name}'s lead (HTTP {gone.status_code}) and "
        f"was handed the enrolment link of a new lead it named (HTTP {made.status_code}, "
        f"link shown: {'/enrol/' in made.text})"
    )


# --- disclosure policy lines --------------------------------------------------------------


def test_a_lead_can_add_an_allow_line_for_any_role(client, db, keys, clock):
    """The default policy's own rule: roles are always named in an allow line (never "*"),
    so a role no one decided on receives nothing. The lead's form offers "any role" for an
    allow line: one such line releases the owner's medical notes to a partner's agency
    lead (a role no line names), and to any role added later."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical"])
    clock.advance(hours=1)
    owner_lead = make.user(db, w.owner, Role.AGENCY_LEAD)
    with TestClient(client.app, follow_redirects=False) as lead_browser:
        make.login(lead_browser, owner_lead.username)
        token = make.csrf_of_page(lead_browser, "/agency/policy")
        added = lead_browser.post(
            "/agency/policy",
            data={
                "csrf_token": token,
                "kind": "*",
                "role": "*",
                "section": "medical",
                "purpose": "*",
                "effect": "allow",
            },
        )
    partner_lead = make.user(db, w.partner, Role.AGENCY_LEAD)
    make.login(client, partner_lead.username)
    page = client.get(f"/cases/{w.case.public_id}/summary/owners/{w.owner.public_id}").text
    assert added.status_code == 400 and SECRET_NOTE not in page, (
        f"an allow line for any role was accepted (HTTP {added.status_code}) and the "
        f"partner's agency lead read the medical note: {SECRET_NOTE in page}"
    )


def test_the_leads_audit_log_does_not_say_which_policy_line_changed(client, db, keys):
    """Policy changes are recorded with the line in the entry's detail, but nothing the
    lead can read shows it: the log page says only "disclosure policy line added/removed"
    (and a removed line is gone from the policy page), so "what changed" is unanswerable."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    token = make.csrf_of_page(client, "/agency/policy")
    client.post(
        "/agency/policy",
        data={
            "csrf_token": token,
            "kind": "own",
            "role": "clinician",
            "section": "substance_use",
            "purpose": "care_coordination",
            "effect": "deny",
        },
    )
    page = client.get("/audit").text
    rows = [
        page_text(row)
        for row in re.findall(r"<tr.*?</tr>", page, flags=re.S)
        if "policy line added" in row
    ]
    assert rows, "no policy line entry on the log page"
    assert "substance use" in rows[0].lower(), (
        f"the log's entry for the added line does not say which line: {rows[0]!r}"
    )


# --- legal bases --------------------------------------------------------------------------


def _basis_world(db, keys):
    owner = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.LAW_ENFORCEMENT)
    partner = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.CHILD_WELFARE)
    client = make.client_record(db, owner, keys, birth=date(2012, 3, 1))
    partner_client = make.client_record(db, partner, keys)
    case = make.mdt_case(db, partner)
    cases.link_client(db, case, partner, partner_client, actor=None, at=make.AT, confirmed=True)
    cases.link_client(db, case, owner, client, actor=None, at=make.AT, confirmed=True)
    lead = make.user(db, owner, Role.AGENCY_LEAD, Role.INVESTIGATOR)
    viewer = make.user(db, partner, Role.INVESTIGATOR)
    db.flush()
    return owner, partner, client, case, lead, viewer


def test_recording_a_legal_basis_is_audited_without_its_purpose_or_age(client, db, keys):
    """The entry for a recorded basis names the citation and sections only: not the
    purpose it lets the agency share for, nor whether it is for minors only and under
    which age — the audit cannot tell what the agency decided to share without releases."""
    agency = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.CHILD_WELFARE)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    token = make.csrf_of_page(client, "/agency/policy")
    made = client.post(
        "/agency/policy/legal-bases",
        data={
            "csrf_token": token,
            "citation": CITATION,
            "sections": ["safety_plan"],
            "basis_purpose": "care_coordination",
            "minors_only": "yes",
            "under_age": "21",
        },
    )
    assert made.status_code == 303
    entry = db.exec(select(AuditEntry).where(AuditEntry.tag == "policy:legal_basis:recorded")).one()
    detail = json.loads(entry.detail)
    said = json.dumps(detail)
    assert "care_coordination" in said and "21" in said, (
        f"the audit entry of a recorded basis omits its purpose and age: {detail}"
    )


def test_the_accounting_of_disclosures_hides_that_a_legal_basis_was_used(client, db, keys):
    """A disclosure made under a legal basis (no release) shows in the survivor's
    accounting with an empty "Release" cell: the accounting never says the statute it was
    shared under, though the owner's audit entry names it."""
    owner, partner, survivor, case, lead, viewer = _basis_world(db, keys)
    from disclosure_helpers import World

    w = World(owner, partner, survivor, None, case, lead, viewer)
    write(db, keys, w, "investigation", {"status": "open"})
    legal_bases.record_basis(
        db,
        owner,
        citation=CITATION,
        sections=["investigation"],
        purpose="mdt_case_review",
        minors_only=True,
        actor=lead,
        keys=keys,
        at=make.AT,
    )
    requester = Requester.of(viewer, partner, {Role.INVESTIGATOR.value}, purpose="mdt_case_review")
    shown = disclose(
        db,
        requester,
        case,
        owner,
        "investigation",
        make.AT + timedelta(minutes=5),
        tz=UTC,
        keys=keys,
    )
    assert isinstance(shown, Released) and shown.legal_basis
    db.flush()
    make.login(client, lead.username)
    page = client.get(f"/audit/accounting?client={survivor.public_id}")
    assert page.status_code == 200
    rows = [
        page_text(row)
        for row in re.findall(r"<tr.*?</tr>", page.text, flags=re.S)
        if "Investigation" in row
    ]
    assert rows, f"the disclosure is not in the accounting: {page_text(page.text)[:600]}"
    assert "Synthetic Welfare Code" in rows[0], (
        f"the accounting row for a disclosure under a legal basis does not name it: {rows[0]!r}"
    )


# --- words, not codes ---------------------------------------------------------------------


def test_the_agency_page_shows_role_codes_not_their_labels(client, db, keys):
    """The agency page writes roles as their codes with spaces ("mdt coordinator",
    "survivor mentor") where every other page says "MDT coordinator", "survivor-mentor"."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.user(db, agency, Role.MDT_COORDINATOR, Role.SURVIVOR_MENTOR)
    make.login(client, lead.username)
    page = page_text(client.get(f"/admin/agencies/{agency.public_id}").text)
    assert "MDT coordinator" in page and "survivor-mentor" in page, (
        f"roles on the agency page: {page[page.find('Roles') : page.find('Roles') + 140]!r}"
    )
