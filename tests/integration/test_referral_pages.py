"""Issue 20 through HTTP: the coordinator's row of minors with a clear concern and no MDT
case lists those partners' disclosure points told the coordinating agency of, counts the
ones they withheld, and starts the MDT path from one; no other agency is told."""

from __future__ import annotations

from dataclasses import replace

import pytest
from referral_helpers import Mdt
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import AuditEntry, CaseLink, MdtCase, Role

import factories as make

ROW = "Minors with a clear concern and no MDT case"


@pytest.fixture
def mdt(db, keys):
    return Mdt(db, keys)


@pytest.fixture
def browser(settings, engine, connection, mdt):
    """The node's settings name the coordinating agency (no roster on this node)."""
    app = create_app(
        replace(settings, coordinating_agency=mdt.cac.name), engine=engine, bind=connection
    )
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def _row(page: str) -> str:
    return page.split(ROW, 1)[1].split("</tr>", 1)[0]


def _owner_entries(db, owner, **where):
    query = select(AuditEntry).where(
        AuditEntry.agency_id == owner.id, AuditEntry.section_key == "mdt_referral"
    )
    for name, value in where.items():
        query = query.where(getattr(AuditEntry, name) == value)
    return db.exec(query.order_by(AuditEntry.seq)).all()


def test_the_coordinator_sees_the_partners_minor_and_a_count_of_the_withheld(browser, db, mdt):
    told, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(told, mdt.shelter_staff)
    withheld, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)  # no release
    make.login(browser, mdt.coordinator.username)
    row = _row(browser.get("/").text)
    assert told.reference in row and f"/referrals/{mdt.shelter.public_id}/" in row
    assert "Clear concern" in row and "shared under the client's release" in row
    # The other minor is a count with its gate, never its reference.
    assert withheld.reference not in row
    # Before: "1 minor its point did not tell your agency of": the portal's jargon.
    assert "1 more minor, not shared with your agency (no consent)" in row
    assert "its point" not in row
    assert "1 more minor" in row and "disclosure points" not in row  # words, not jargon
    assert ">2<" in row  # two minors with a clear concern, one of them only counted
    # The shelter's log: what it released and what it withheld, naming its own clients.
    assert [e.client_ref for e in _owner_entries(db, mdt.shelter, decision="released")] == [
        told.public_id
    ]
    assert [e.client_ref for e in _owner_entries(db, mdt.shelter, decision="withheld")] == [
        withheld.public_id
    ]
    # The coordinator's log: what it received, from whom.
    (receipt,) = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == mdt.cac.id, AuditEntry.tag == "disclosure:section:received"
        )
    ).all()
    assert receipt.subject == screening.public_id and receipt.client_ref is None


def test_the_owners_lead_sees_who_was_told_in_its_log_and_accounting(browser, db, mdt):
    told, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    release = mdt.release(told, mdt.shelter_staff)
    lead = make.user(db, mdt.shelter, Role.AGENCY_LEAD)
    make.login(browser, mdt.coordinator.username)
    browser.get("/")
    browser.cookies.clear()
    make.login(browser, lead.username)
    log = browser.get("/audit?section=mdt_referral").text
    assert 'Results <span class="count">1</span>' in log
    assert '<span class="decision decision-released">released</span>' in log
    assert f'<a href="/releases/{release.public_id}">signed ' in log and mdt.cac.name in log
    accounting = browser.get(f"/audit/accounting?client={told.public_id}").text
    assert "MDT referral of a minor" in accounting and mdt.cac.name in accounting
    spanish = browser.get(f"/audit/accounting?client={told.public_id}&language=es").text
    assert "Remisión de un menor al equipo (MDT)" in spanish


def test_a_partner_that_does_not_coordinate_is_told_nothing(browser, db, mdt):
    told, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    # Even a release naming child welfare does not make it the MDT's coordinator.
    mdt.release(told, mdt.shelter_staff, recipients=[mdt.cac.public_id, mdt.welfare.public_id])
    welfare_coordinator = make.user(db, mdt.welfare, Role.MDT_COORDINATOR)
    make.login(browser, welfare_coordinator.username)
    page = browser.get("/").text
    assert told.reference not in page and "/referrals/" not in page
    assert "not shared with your agency" not in page
    assert _owner_entries(db, mdt.shelter) == []  # not even asked


def test_the_referral_page_is_not_found_for_a_non_coordinator(browser, db, mdt):
    told, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(told, mdt.shelter_staff)
    welfare_coordinator = make.user(db, mdt.welfare, Role.MDT_COORDINATOR)
    make.login(browser, welfare_coordinator.username)
    page = browser.get(f"/referrals/{mdt.shelter.public_id}/{screening.public_id}")
    assert page.status_code == 404 and told.reference not in page.text


def test_without_a_coordinating_agency_set_partners_are_not_asked(
    settings, engine, connection, db, mdt
):
    told, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(told, mdt.shelter_staff)
    app = create_app(settings, engine=engine, bind=connection)  # no coordinating agency
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        make.login(client, mdt.coordinator.username)
        row = _row(client.get("/").text)
    assert told.reference not in row and _owner_entries(db, mdt.shelter) == []


def test_starting_the_mdt_path_from_a_partners_referral(browser, db, mdt):
    told, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(told, mdt.shelter_staff)
    make.login(browser, mdt.coordinator.username)
    url = f"/referrals/{mdt.shelter.public_id}/{screening.public_id}"
    page = browser.get(url)
    assert page.status_code == 200 and told.reference in page.text
    assert "Open the MDT case and invite" in page.text
    assert 'value="community_agency" selected' in page.text
    token = make.csrf_from(page.text)
    bad = browser.post(url, data={"csrf_token": token, "referral_source": "gossip"})
    assert bad.status_code == 400 and db.exec(select(MdtCase)).all() == []
    opened = browser.post(url, data={"csrf_token": token, "referral_source": "community_agency"})
    assert opened.status_code == 303
    (case,) = db.exec(select(MdtCase)).all()
    assert opened.headers["location"] == f"/cases/{case.public_id}"
    assert (
        case.intake_date == screening.screened_at.astimezone(browser.app.state.settings.tz).date()
    )
    (link,) = db.exec(select(CaseLink).where(CaseLink.case_id == case.id)).all()
    assert (link.agency_id, link.client_id, link.confirmed_at) == (mdt.shelter.id, None, None)
    opened_from = db.exec(
        select(AuditEntry).where(AuditEntry.tag == "mdt:referral:case_opened")
    ).one()
    assert opened_from.agency_id == mdt.cac.id and opened_from.subject == case.reference
    # The referral page now points at the case waiting on the shelter.
    assert case.reference in browser.get(url).text
    # The shelter names its client from its side, under a release naming the coordinator
    # for MDT case review; then the minor is on a case and no longer flagged.
    mdt.release(told, mdt.shelter_staff, purpose="mdt_case_review", sections=["identity"])
    browser.cookies.clear()
    make.login(browser, mdt.shelter_staff.username)
    confirm = browser.post(
        f"/cases/{case.public_id}/link",
        data={
            "csrf_token": make.csrf_of_page(browser, f"/cases/{case.public_id}"),
            "client_reference": told.reference,
        },
    )
    assert confirm.status_code == 303
    browser.cookies.clear()
    make.login(browser, mdt.coordinator.username)
    assert told.reference not in _row(browser.get("/").text)
    assert browser.get(url).status_code == 404
