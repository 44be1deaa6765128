"""Defects a UX walk of the portal found, each through HTTP as its user meets it: what was
wrong before is in each test's docstring, and each failed on the code as walked."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from page_text import page_text
from sqlmodel import select

from portal.auth.sessions import Viewer
from portal.models import AuditEntry, CompelledDisclosure, Discipline, Role, StaffRole
from portal.services import api_tokens, screenings
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import factories as make

NY = ZoneInfo("America/New_York")  # the test settings' MDT time zone


def _post(client, path, **data):
    token = make.csrf_of_page(client, "/account")
    return client.post(path, data={"csrf_token": token, **data})


# --- 1. the dashboard's times -------------------------------------------------------------


def test_the_dashboard_names_the_zone_of_a_screenings_time(client, db, keys, clock):
    """Before: the coordinator's row "Screenings begun, not finalised" read "begun
    2026-12-02 18:14", with no zone, where the risk screens beside it read "due by
    2026-12-04 14:14 EST": the reader could not tell which clock the first was on."""
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    user = make.user(db, agency, Role.ADVOCATE, Role.MDT_COORDINATOR)
    survivor = make.client_record(db, agency, keys, birth=date(2000, 5, 17))
    make.login(client, user.username)
    begun = clock() - timedelta(hours=3)
    raw = {
        "tool": "cse_it",
        "tool_version": "2.0",
        "screened_at": f"{begun.astimezone(NY):%Y-%m-%dT%H:%M}",
        "trigger": "intake",
        "band": "no_concern",
        "age_group": "adult",
        "action": "none",
        "action_reason": "Synthetic: nothing seen.",
    }
    given = screening_forms.read_screening(raw, tz=NY, now=begun)
    screenings.start(
        db, survivor, given=given, actor=user, keys=keys, at=begun, minors=MinorSigning()
    )
    db.flush()
    page = client.get("/").text
    row = page.split("Screenings begun, not finalised", 1)[1].split("</tr>", 1)[0]
    assert f"begun {begun.astimezone(NY):%Y-%m-%d %H:%M %Z}" in page_text(row), row
    assert "Times are in the MDT's time zone: America/New York" in page


# --- 2. ending sessions nobody has ----------------------------------------------------------


def test_the_staff_page_offers_to_end_sessions_only_when_there_are_some(client, db, keys):
    """Before: the staff page said "No active sessions." and, under it, offered "End all
    sessions": a button that does nothing, beside a sentence that says so."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    member = make.user(db, agency, Role.ADVOCATE)
    make.login(client, lead.username)
    page = client.get(f"/admin/staff/{member.public_id}").text
    assert "No active sessions." in page
    assert f'action="/admin/staff/{member.public_id}/end-sessions"' not in page
    # Signed in (elsewhere), they have one: the page offers to end it.
    client.cookies.clear()
    make.login(client, member.username)
    client.cookies.clear()
    make.login(client, lead.username)
    page = client.get(f"/admin/staff/{member.public_id}").text
    assert "No active sessions." not in page
    assert f'action="/admin/staff/{member.public_id}/end-sessions"' in page
    assert "End the session" in page


# --- 3. the accounting names no internal id -------------------------------------------------


def test_the_printed_accounting_shows_no_internal_id_of_the_client(client, db, keys):
    """Before: the accounting of disclosures, printed for the survivor, said "Client id
    5b0c…-…" (the record's internal identifier), which neither the client nor the lead
    knows the client by; the client's reference (the one the release names) is shown."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    survivor = make.client_record(db, agency, keys)
    make.login(client, lead.username)
    page = client.get("/audit/accounting", params={"client": survivor.reference})
    assert page.status_code == 200
    article = page.text.split('<article class="accounting"')[1].split("</article>")[0]
    shown = re.sub(r'href="[^"]*"', "", article)  # links carry ids; print shows no links
    assert survivor.public_id not in shown and "Client id" not in shown
    assert survivor.reference in shown


# --- 6. the administrator records no compelled disclosure -----------------------------------


def test_the_administrator_cannot_record_a_compelled_disclosure(client, db, keys, clock):
    """DESIGN.md: the administrator runs the node and never receives survivor information.
    A compelled disclosure names a client and the sections disclosed: only the owner
    agency's lead records one."""
    agency = make.agency(db, keys)
    admin = make.user(db, agency, Role.ADMINISTRATOR)
    survivor = make.client_record(db, agency, keys)
    db.flush()
    make.login(client, admin.username)
    refused = _post(
        client,
        f"/clients/{survivor.public_id}/compelled-disclosures",
        recipient="County Circuit Court (fictional)",
        basis="subpoena",
        basis_detail="Subpoena no. TEST-1 (fictional)",
        sections=["safety_plan"],
        disclosed_on=clock().astimezone(NY).date().isoformat(),
        client_told="yes",
    )
    assert refused.status_code == 403
    assert db.exec(select(CompelledDisclosure)).all() == []
    assert not db.exec(
        select(AuditEntry).where(AuditEntry.tag == "disclosure:compelled:recorded")
    ).all()


# --- 5. taking a role ends tokens: asked first ----------------------------------------------


def _token(db, agency, lead, role: Role, name: str):
    issued = api_tokens.create_token(
        db,
        Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, role.value}), None),
        name=name,
        scopes=["cases:read"],
        acting_role=role.value,
        at=make.AT,
    )
    db.flush()
    return issued


def test_taking_a_role_that_ends_api_tokens_asks_first_naming_how_many(client, db, keys):
    """Before: a lead unticked "case manager" for a fellow lead and pressed "Save roles":
    the two API tokens that lead had made acting as a case manager (a partner's records
    system, a reporting job) ended for good at once, with no word that they would."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    issuer = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER, Role.ADVOCATE)
    first = _token(db, agency, issuer, Role.CASE_MANAGER, "records system (synthetic)")
    second = _token(db, agency, issuer, Role.CASE_MANAGER, "reporting job (synthetic)")
    kept = _token(db, agency, issuer, Role.ADVOCATE, "shelter beds (synthetic)")
    make.login(client, lead.username)
    roles = f"/admin/staff/{issuer.public_id}/roles"
    asked = _post(client, roles, roles=["agency_lead", "advocate"])
    assert asked.status_code == 200
    assert "Take the case manager role from" in asked.text
    assert "The 2 API tokens" in asked.text and "records system (synthetic)" in asked.text
    assert "shelter beds (synthetic)" not in asked.text
    assert 'name="tokens_ending" value="2"' in asked.text
    for token in (first, second, kept):
        db.refresh(token.token)
        assert token.token.revoked_at is None, "nothing ends before the lead confirms"
    assert "case_manager" in {
        r for r in db.exec(select(StaffRole.role).where(StaffRole.user_id == issuer.id))
    }
    # Confirmed: the role goes, its two tokens end, the other stays.
    done = _post(client, roles, roles=["agency_lead", "advocate"], tokens_ending="2")
    assert done.status_code == 303
    for token in (first, second, kept):
        db.refresh(token.token)
    assert first.token.revoked_at is not None and second.token.revoked_at is not None
    assert kept.token.revoked_at is None


def test_a_role_change_that_ends_no_token_is_not_asked_about(client, db, keys):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    member = make.user(db, agency, Role.CASE_MANAGER, Role.ADVOCATE)
    make.login(client, lead.username)
    done = _post(client, f"/admin/staff/{member.public_id}/roles", roles=["advocate"])
    assert done.status_code == 303


def test_taking_the_lead_role_names_every_token_the_lead_made(client, db, keys):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    issuer = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    token = _token(db, agency, issuer, Role.CASE_MANAGER, "records system (synthetic)")
    make.login(client, lead.username)
    roles = f"/admin/staff/{issuer.public_id}/roles"
    asked = _post(client, roles, roles=["case_manager"])
    assert asked.status_code == 200
    assert "The 1 API token" in asked.text and "made as a lead" in asked.text
    # A stale confirmation (another token made since) is asked about again.
    _token(db, agency, issuer, Role.CASE_MANAGER, "second system (synthetic)")
    again = _post(client, roles, roles=["case_manager"], tokens_ending="1")
    assert again.status_code == 200 and "The 2 API tokens" in again.text
    db.refresh(token.token)
    assert token.token.revoked_at is None
