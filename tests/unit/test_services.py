"""Domain services against both databases, without HTTP."""

from datetime import date

import pytest
from sqlmodel import select

from portal.errors import Conflict, Invalid, NotFound
from portal.models import AgencyKey, AuditEntry, CaseLink, Client, KeyPurpose, Role
from portal.services import agencies, cases, clients, staff

import factories as make


def tags(db, agency_id=None):
    query = select(AuditEntry.tag)
    if agency_id is not None:
        query = query.where(AuditEntry.agency_id == agency_id)
    return list(db.exec(query).all())


def test_create_agency_makes_keys_and_an_audit_entry(db, keys):
    agency = make.agency(db, keys)
    purposes = set(db.exec(select(AgencyKey.purpose).where(AgencyKey.agency_id == agency.id)))
    assert purposes == {KeyPurpose.DATA, KeyPurpose.SIGNING}
    assert "admin:agency:created" in tags(db, agency.id)


def test_create_agency_names_every_bad_field_and_writes_nothing(db, keys):
    before = len(tags(db))
    with pytest.raises(Invalid) as caught:
        agencies.create_agency(
            db,
            name="",
            kind="secret-police",
            discipline="astrology",
            actor=None,
            keys=keys,
            at=make.AT,
        )
    assert set(caught.value.errors) == {"name", "kind", "discipline"}
    assert len(tags(db)) == before


def test_duplicate_agency_name_is_a_conflict(db, keys):
    make.agency(db, keys, name="Twin Agency (synthetic)")
    with pytest.raises(Conflict):
        make.agency(db, keys, name="twin agency (synthetic)")


def test_staff_username_rules_and_duplicates(db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, username="sam.sample")
    with pytest.raises(Conflict):
        make.user(db, agency, username="Sam.Sample")
    with pytest.raises(Invalid) as caught:
        staff.create_staff(
            db,
            agency,
            username="x",
            display_name="",
            password="short",
            roles=["wizard"],
            actor=None,
            at=make.AT,
        )
    assert set(caught.value.errors) == {"username", "display_name", "password", "roles"}


def test_client_identity_is_sealed_and_found_by_index(db, keys):
    agency = make.agency(db, keys)
    client = make.client_record(db, agency, keys, given="Zoë", family="Example")
    row = db.exec(select(Client).where(Client.id == client.id)).one()
    assert b"Example" not in row.identity_sealed
    found = clients.find_clients(
        db, agency, given_name="zoe", family_name="EXAMPLE", birth_date=date(2000, 5, 17), keys=keys
    )
    assert [c.id for c in found] == [client.id]
    assert clients.reveal_identity(db, client, keys=keys).family_name == "Example"


def test_another_agency_cannot_find_or_load_the_client(db, keys):
    owner, other = make.agency(db, keys), make.agency(db, keys)
    client = make.client_record(db, owner, keys)
    assert (
        clients.find_clients(
            db,
            other,
            given_name="Robin",
            family_name="Example",
            birth_date=date(2000, 5, 17),
            keys=keys,
        )
        == []
    )
    with pytest.raises(NotFound):
        clients.access_client(db, other, client.public_id)


def test_case_references_carry_the_intake_year_and_no_count(db, keys):
    # Random, not counting up: see tests/integration/test_smaller_leaks.py (issue 12).
    coordinating = make.agency(db, keys)
    first = make.mdt_case(db, coordinating, intake=date(2026, 10, 1))
    older = make.mdt_case(db, coordinating, intake=date(2025, 12, 30))
    assert first.reference.startswith("MDT-2026-") and older.reference.startswith("MDT-2025-")
    assert len(first.reference) == len("MDT-2026-") + 6


def test_case_intake_in_the_future_is_refused(db, keys):
    coordinating = make.agency(db, keys)
    with pytest.raises(Invalid) as caught:
        cases.open_case(
            db,
            coordinating,
            intake_date="2099-01-01",
            referral_source="hotline",
            actor=None,
            at=make.AT,
            today=make.AT.date(),
        )
    assert "intake_date" in caught.value.errors


def test_case_visibility_is_computed_in_sql(db, keys):
    coordinating, partner, outsider = (make.agency(db, keys) for _ in range(3))
    case = make.mdt_case(db, coordinating)
    cases.link_client(
        db, case, partner, make.client_record(db, partner, keys), actor=None, at=make.AT
    )
    assert cases.count_cases_for_agency(db, outsider) == 0
    assert cases.count_cases_for_agency(db, partner) == 1
    assert cases.access_case(db, partner, case.public_id).id == case.id
    with pytest.raises(NotFound):
        cases.access_case(db, outsider, case.public_id)


def test_link_refuses_another_agencys_client_and_duplicates(db, keys):
    coordinating, partner = make.agency(db, keys), make.agency(db, keys)
    case = make.mdt_case(db, coordinating)
    foreign = make.client_record(db, coordinating, keys)
    with pytest.raises(Invalid):
        cases.link_client(db, case, partner, foreign, actor=None, at=make.AT)
    cases.link_client(db, case, partner, None, actor=None, at=make.AT)
    with pytest.raises(Conflict):
        cases.link_client(db, case, partner, None, actor=None, at=make.AT)
    assert len(db.exec(select(CaseLink).where(CaseLink.case_id == case.id)).all()) == 1


def test_lead_cannot_grant_administrator(db, keys):
    from portal.auth.sessions import Viewer
    from portal.models import WebSession

    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    member = make.user(db, agency, Role.ADVOCATE)
    viewer = Viewer(lead, agency, frozenset({"agency_lead"}), WebSession())
    with pytest.raises(Invalid):
        staff.set_roles(db, member, ["administrator"], viewer=viewer, at=make.AT)
    staff.set_roles(db, member, ["advocate", "case_manager"], viewer=viewer, at=make.AT)
    assert staff.roles_of(db, member) == {"advocate", "case_manager"}
