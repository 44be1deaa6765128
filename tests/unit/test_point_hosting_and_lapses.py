"""The disclosure point decides only for agencies this node hosts, and only for requesters
that are on the case: each test is named after what should happen and failed on the code
as a review found it."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from disclosure_helpers import SECRET_NOTE, World, release, world, write
from sqlmodel import func, select

from portal.disclosure import Released, RequestCache, Withheld, answer, disclose
from portal.disclosure.point import OwnerElsewhere, told_to_agency
from portal.models import AgencyKind, AuditEntry, CaseLink, Discipline, Node, Role
from portal.services import case_records, cases, casework, releases

import factories as make
from team_helpers import Team, joining_release

LATER = make.AT + timedelta(hours=1)


def _entries(db) -> int:
    return db.exec(select(func.count()).select_from(AuditEntry)).one()


def _hosted_elsewhere(db, agency) -> None:
    """The roster now places `agency` on another node; this node still holds rows of it."""
    node = Node(
        name="http://elsewhere.test",
        base_url="http://elsewhere.test",
        is_local=False,
        created_at=make.AT,
    )
    db.add(node)
    db.flush()
    agency.node_id = node.id
    db.add(agency)
    db.flush()


def test_the_point_refuses_to_answer_for_an_owner_hosted_on_another_node(db, keys):
    """Before: answer() decided for any owner it was handed, reading this node's copy of
    its records and releases and writing its decision (here a release of its medical
    section) into the log this node keeps for it, which is not its log."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical"])
    asking = w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")
    shown = disclose(db, asking, w.case, w.owner, "medical", LATER, tz=UTC, keys=keys)
    assert shown.decision == "released"  # the control: hosted here, it is released
    _hosted_elsewhere(db, w.owner)
    db.expire_all()  # a new request: nothing read before is remembered
    before = _entries(db)

    with pytest.raises(OwnerElsewhere):
        disclose(db, asking, w.case, w.owner, "medical", LATER, tz=UTC, keys=keys)
    with pytest.raises(OwnerElsewhere):
        answer(
            db,
            asking,
            w.case,
            w.owner,
            ["medical"],
            at=LATER,
            tz=UTC,
            keys=keys,
            cache=RequestCache(),
        )
    assert _entries(db) == before, "a decision for an owner elsewhere was written here"


def test_the_point_tells_nothing_of_a_holder_hosted_on_another_node(db, keys):
    """`told_to_agency` decides in the holder's log whether a system-based agency may be
    told the holder takes part: never for a holder another node hosts."""
    w = world(db, keys)
    welfare = make.agency(db, keys, kind=AgencyKind.SYSTEM)
    _hosted_elsewhere(db, w.owner)
    db.expire_all()
    before = _entries(db)
    with pytest.raises(OwnerElsewhere):
        told_to_agency(db, w.case, w.owner, welfare, asked_by=w.viewer(), at=LATER, keys=keys)
    assert _entries(db) == before


def _last_entry(db, agency, section_key) -> AuditEntry:
    return db.exec(
        select(AuditEntry)
        .where(AuditEntry.agency_id == agency.id, AuditEntry.section_key == section_key)
        .order_by(AuditEntry.id.desc())
    ).first()


def test_an_agency_whose_own_joining_release_is_revoked_reads_no_partners_section(db, keys):
    """Before: the point asked only whether the OWNER's joining release had lapsed. An
    agency whose own survivor revoked the release that joined it to the case stayed a
    confirmed part of it, and went on reading the other owners' sections here, while the
    coordinating agency refuses it the voucher owners elsewhere ask for."""
    coordinator = make.agency(db, keys)
    owner = make.agency(db, keys, discipline=Discipline.HEALTH)
    partner = make.agency(db, keys)
    case = make.mdt_case(db, coordinator)
    w = World(
        owner,
        partner,
        make.client_record(db, owner, keys),
        make.client_record(db, partner, keys),
        case,
        make.user(db, owner, Role.CLINICIAN),
        make.user(db, partner, Role.CASE_MANAGER),
    )
    cases.link_client(db, case, w.owner, w.client, actor=None, at=make.AT, confirmed=True)
    cases.link_client(db, case, w.partner, None, actor=None, at=make.AT)
    joined = joining_release(db, keys, w.partner, w.partner_client, coordinator)
    casework.confirm_link(
        db,
        case,
        w.partner,
        client_reference=w.partner_client.reference,
        actor=w.partner_staff,
        at=make.AT,
        keys=keys,
    )
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical"])  # names the partner, in effect throughout
    partner_own = World(
        w.partner, w.owner, w.partner_client, w.client, case, w.partner_staff, w.owner_staff
    )
    write(db, keys, partner_own, "safety_plan", {"stage": "leaving"})
    asking = w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")

    def read(owner, section, at):
        return disclose(db, asking, case, owner, section, at, tz=UTC, keys=keys)

    assert read(w.owner, "medical", LATER).decision == "released"
    releases.revoke(
        db, joined, reason="the client asked", actor=w.partner_staff, keys=keys, at=LATER
    )
    db.flush()
    after = LATER + timedelta(minutes=1)

    withheld = read(w.owner, "medical", after)
    assert isinstance(withheld, Withheld) and withheld.gate == "not_linked"
    assert SECRET_NOTE not in repr(withheld)
    entry = _last_entry(db, w.owner, "medical")  # the owner's log: a denial, named
    assert (entry.tag, entry.decision, entry.gate) == (
        "disclosure:section:withheld",
        "withheld",
        "not_linked",
    )
    assert entry.actor_agency_ref == w.partner.public_id and entry.at == after
    # Its own survivor's record stays its own to read.
    assert read(w.partner, "safety_plan", after).decision == "released"


def test_an_agency_whose_own_joining_release_is_revoked_reads_no_mdt_decision(db, keys):
    """The same for the MDT's records (a decision, kept by the coordinating agency): the
    point counted the requester on the case by its confirmed link alone."""
    team = Team(db, keys)
    team.decision(db)
    team.release(db, keys, team.b, [team.a])
    team.release(db, keys, team.r, [team.a])
    joined = joining_release(db, keys, team.a, team.clients[team.a.id], team.coordinator)
    link = db.exec(
        select(CaseLink).where(CaseLink.case_id == team.case.id, CaseLink.agency_id == team.a.id)
    ).one()
    link.release_ref = joined.public_id  # A's survivor joined the case under this release
    db.add(link)
    db.flush()

    def decisions(at):
        return case_records.case_decisions(
            db, team.requester(team.a), team.case, at=at, tz=UTC, keys=keys
        )

    assert isinstance(decisions(LATER), Released)
    releases.revoke(
        db, joined, reason="synthetic", actor=team.staff[team.a.id], keys=keys, at=LATER
    )
    db.flush()
    after = decisions(LATER + timedelta(minutes=1))
    assert isinstance(after, Withheld) and after.gate == "not_linked"
    entry = _last_entry(db, team.coordinator, "mdt_decisions")
    assert (entry.decision, entry.gate, entry.actor_agency_ref) == (
        "withheld",
        "not_linked",
        team.a.public_id,
    )
    # The coordinating agency stays on its own case, and the others still read it.
    assert isinstance(
        case_records.case_decisions(
            db, team.requester(team.coordinator), team.case, at=LATER, tz=UTC, keys=keys
        ),
        Released,
    )
