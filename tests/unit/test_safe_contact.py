"""Issue 14: the address apart from the name. A survivor shares her name without her new
address; the address and safe contact never reach a system-based partner under the
default policy, while a system-based agency's own staff still read their own client's."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from disclosure_helpers import release, world, write
from sqlmodel import select

from portal.disclosure import Released, Withheld, disclose
from portal.models import AgencyKind, AuditEntry, Discipline, PolicyLine, Role
from portal.placeholders import sentence
from portal.requester import Requester
from portal.services import clients, sections

import factories as make

LATER = make.AT + timedelta(hours=1)
ADDRESS = "12 Synthetic Lane, Nowhere (fictional)"
NOTE = "SYNTHETIC-CONTACT-NOTE"


def _world(db, keys, **kinds):
    """The survivor's record at a shelter: a name, an address, a note on safe contact."""
    w = world(
        db, keys, owner_discipline=Discipline.SHELTER, phone="555-0100", address=ADDRESS, **kinds
    )
    write(db, keys, w, "identity", {"preferred_name": "Robin"})
    write(db, keys, w, "safe_contact", {"contact_notes": NOTE, "safe_to_call": "no"})
    return w


def _rows(decision):
    return {row.label: row.value for row in decision.content.rows}


def test_the_name_goes_without_the_address(db, keys):
    w = _world(db, keys)
    release(db, keys, w, ["identity"])
    viewer = w.viewer(Role.ADVOCATE)
    name = disclose(db, viewer, w.case, w.owner, "identity", LATER, tz=UTC, keys=keys)
    assert isinstance(name, Released)
    assert _rows(name) == {
        "Given name": "Robin",
        "Family name": "Example",
        "Date of birth": "2000-05-17",
        "Preferred name": "Robin",
    }
    assert ADDRESS not in repr(name) and "555-0100" not in repr(name)
    contact = disclose(db, viewer, w.case, w.owner, "safe_contact", LATER, tz=UTC, keys=keys)
    assert isinstance(contact, Withheld) and contact.gate == "no_consent"

    # Named in a release of its own, a community-based partner reads it.
    release(db, keys, w, ["identity", "safe_contact"])
    contact = disclose(db, viewer, w.case, w.owner, "safe_contact", LATER, tz=UTC, keys=keys)
    assert isinstance(contact, Released)
    assert _rows(contact) == {
        "Phone": "555-0100",
        "Email": "",
        "Address": ADDRESS,
        "Safe ways to make contact": NOTE,
        "Safe to call": "no",
    }
    assert "Robin" not in repr(contact.content)


def test_a_system_based_partner_never_receives_the_address(db, keys):
    w = _world(db, keys, partner_kind=AgencyKind.SYSTEM)
    release(db, keys, w, ["identity", "safe_contact"])
    for role in (Role.INVESTIGATOR, Role.CASE_MANAGER, Role.MDT_COORDINATOR):
        viewer = w.viewer(role)
        assert isinstance(
            disclose(db, viewer, w.case, w.owner, "identity", LATER, tz=UTC, keys=keys), Released
        )
        contact = disclose(db, viewer, w.case, w.owner, "safe_contact", LATER, tz=UTC, keys=keys)
        assert isinstance(contact, Withheld) and contact.gate == "policy"
        assert "address and safe contact" in sentence(contact.why)
        assert "system-based agency" in sentence(contact.why)
    refusals = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id,
            AuditEntry.section_key == "safe_contact",
            AuditEntry.decision == "withheld",
        )
    ).all()
    assert len(refusals) == 3 and all(e.gate == "policy" for e in refusals)


def test_a_system_based_owners_own_staff_read_the_address(db, keys):
    """The deny for system-based partners is not a deny for the agency's own caseworkers:
    own staff are decided as "own", never as their agency's kind."""
    welfare = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.CHILD_WELFARE)
    worker = make.user(db, welfare, Role.CASE_MANAGER)
    client = clients.register_client(
        db,
        welfare,
        clients.Identity("Sky", "Example", date(2012, 1, 2), "", "", ADDRESS),
        reference="CW-1",
        actor=None,
        keys=keys,
        at=make.AT,
    )
    db.flush()
    caseworker = Requester.of(worker, welfare, {Role.CASE_MANAGER.value})
    view = clients.view_identity(db, client, requester=caseworker, keys=keys, at=LATER)
    assert view.name.display_name == "Sky Example"
    assert view.contact is not None and view.contact.address == ADDRESS

    # A line for the agency's own staff alone withholds the address from them, and only it.
    db.add(
        PolicyLine(
            agency_id=welfare.id,
            recipient_kind="own",
            recipient_role="case_manager",
            section_key="safe_contact",
            purpose="*",
            effect="deny",
            created_at=make.AT,
        )
    )
    db.flush()
    view = clients.view_identity(db, client, requester=caseworker, keys=keys, at=LATER)
    assert view.name is not None and view.contact is None
    assert view.contact_answer.why.own_agency
    assert "your agency's own staff" in sentence(view.contact_answer.why)
    # Both reads audited, the allowed one and the withheld one.
    entries = db.exec(
        select(AuditEntry.section_key, AuditEntry.decision).where(
            AuditEntry.agency_id == welfare.id, AuditEntry.section_key.is_not(None)
        )
    ).all()
    assert ("safe_contact", "withheld") in entries and ("identity", "released") in entries
    assert sections.readable(db, client, ["safe_contact"], requester=caseworker)[
        "safe_contact"
    ].withheld
