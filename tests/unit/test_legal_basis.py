"""Issue 14: a legal basis in place of a release, recorded by a system-based agency's lead
as signed policy data, accepted by its disclosure point for what it covers and named in
its audit entry."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from disclosure_helpers import World, write
from nacl.signing import SigningKey
from sqlmodel import select

import consent
from portal.disclosure import Released, Withheld, disclose
from portal.errors import Invalid
from portal.keyring import current_key
from portal.models import AgencyKind, AuditEntry, Discipline, KeyPurpose, LegalBasis, Role
from portal.requester import Requester
from portal.services import case_records, case_summary, cases, legal_bases

import factories as make
from databases import counted
from team_helpers import Team

LATER = make.AT + timedelta(hours=1)
CITATION = "Synthetic State Code 39.202(5) (example)"


def _world(db, keys, *, birth):
    owner = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.LAW_ENFORCEMENT)
    partner = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.CHILD_WELFARE)
    client = make.client_record(db, owner, keys, birth=birth)
    partner_client = make.client_record(db, partner, keys)
    case = make.mdt_case(db, partner)
    cases.link_client(db, case, partner, partner_client, actor=None, at=make.AT, confirmed=True)
    cases.link_client(db, case, owner, client, actor=None, at=make.AT, confirmed=True)
    lead = make.user(db, owner, Role.AGENCY_LEAD, Role.INVESTIGATOR)
    viewer = make.user(db, partner, Role.INVESTIGATOR)
    db.flush()
    return World(owner, partner, client, partner_client, case, lead, viewer)


def _seen(db, keys, w, section="investigation", *, at=LATER):
    requester = Requester.of(
        w.partner_staff, w.partner, {Role.INVESTIGATOR.value}, purpose="mdt_case_review"
    )
    return disclose(db, requester, w.case, w.owner, section, at, tz=UTC, keys=keys)


# A request after a basis was retired: a retirement takes effect after every disclosure the
# owner's log already holds from its time on (`audit.revoked`), here the ones at LATER.
NEXT = LATER + timedelta(seconds=1)


def _record(db, keys, w, **overrides):
    values = {
        "citation": CITATION,
        "sections": ["investigation"],
        "purpose": "mdt_case_review",
        "minors_only": True,
    } | overrides
    return legal_bases.record_basis(
        db, w.owner, actor=w.owner_staff, keys=keys, at=make.AT, **values
    )


def test_a_basis_shares_a_minors_section_without_a_release_and_is_named(db, keys):
    w = _world(db, keys, birth=date(2012, 3, 1))
    write(db, keys, w, "investigation", {"status": "open"})
    assert isinstance(_seen(db, keys, w), Withheld)  # no release, no basis yet
    basis = _record(db, keys, w)
    shown = _seen(db, keys, w)
    assert isinstance(shown, Released) and shown.release_ref is None
    assert CITATION in shown.legal_basis and basis.public_id in shown.legal_basis
    entry = db.exec(
        select(AuditEntry)
        .where(AuditEntry.agency_id == w.owner.id, AuditEntry.tag == "disclosure:section:released")
        .order_by(AuditEntry.id.desc())
    ).first()
    assert CITATION in json.loads(entry.detail)["legal_basis"] and entry.release_ref is None
    # Only what it covers: another section still needs the survivor's release.
    assert isinstance(_seen(db, keys, w, "identity"), Withheld)
    # Retired: from the next request only releases count.
    legal_bases.retire_basis(db, w.owner, basis.public_id, actor=w.owner_staff, at=make.AT)
    assert isinstance(_seen(db, keys, w, at=NEXT), Withheld)


def test_a_minors_only_basis_does_not_cover_an_adult(db, keys):
    w = _world(db, keys, birth=date(1990, 3, 1))
    write(db, keys, w, "investigation", {"status": "open"})
    _record(db, keys, w)
    assert isinstance(_seen(db, keys, w), Withheld)


@pytest.mark.parametrize(
    ("under_age", "birth", "covered"),
    [
        (21, date(2006, 3, 1), True),  # 20 on the day: a statute's "child" until 21
        (21, date(2005, 3, 1), False),  # 21
        (16, date(2009, 3, 1), False),  # 17: a minor, but past this statute's age
        (16, date(2010, 11, 3), True),  # 15
    ],
)
def test_a_minors_basis_covers_clients_under_the_age_it_was_signed_for(
    db, keys, under_age, birth, covered
):
    w = _world(db, keys, birth=birth)
    write(db, keys, w, "investigation", {"status": "open"})
    basis = _record(db, keys, w, under_age=under_age)
    assert json.loads(basis.document)["minors_under_age"] == under_age  # signed with it
    assert isinstance(_seen(db, keys, w), Released) is covered


def test_a_basis_signed_before_its_age_was_asked_covers_those_under_18(db, keys):
    w = _world(db, keys, birth=date(2008, 3, 1))  # 18 on the day
    write(db, keys, w, "investigation", {"status": "open"})
    basis = _record(db, keys, w, under_age=21)
    signed = json.loads(basis.document)
    del signed["minors_under_age"]
    document = consent.canonical_bytes(signed)
    key = current_key(db, w.owner.id, KeyPurpose.SIGNING)
    basis.document = document.decode()  # as such a basis was signed
    basis.signature = base64.b64encode(
        SigningKey(keys.unwrap(key.wrapped_secret)).sign(document).signature
    ).decode()
    db.add(basis)
    db.flush()
    assert basis.under_age() == 18
    assert isinstance(_seen(db, keys, w), Withheld)


@pytest.mark.parametrize("under_age", ["", "eleven", "11", "22", "-1", None])
def test_a_minors_basis_needs_an_age_from_12_to_21(db, keys, under_age):
    w = _world(db, keys, birth=date(2012, 3, 1))
    with pytest.raises(Invalid) as error:
        _record(db, keys, w, under_age=under_age)
    assert "a whole number from 12 to 21" in error.value.errors["under_age"]
    _record(db, keys, w, minors_only=False, under_age="")  # for any age: no age asked


def test_a_survivor_is_a_minor_until_midnight_of_their_birthday_where_the_mdt_is(db, keys):
    """At 21:00 in New York on the eve of an 18th birthday it is already the birthday in
    UTC: the minors-only basis still covers the survivor (it stopped five hours early)."""
    w = _world(db, keys, birth=date(2008, 11, 3))
    write(db, keys, w, "investigation", {"status": "open"})
    _record(db, keys, w)
    eve = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)  # 2 November, 21:00 in New York
    requester = Requester.of(
        w.partner_staff, w.partner, {Role.INVESTIGATOR.value}, purpose="mdt_case_review"
    )
    new_york = ZoneInfo("America/New_York")
    seen = disclose(db, requester, w.case, w.owner, "investigation", eve, tz=new_york, keys=keys)
    assert isinstance(seen, Released) and CITATION in seen.legal_basis
    birthday = eve + timedelta(hours=5)  # midnight in New York
    later = disclose(
        db, requester, w.case, w.owner, "investigation", birthday, tz=new_york, keys=keys
    )
    assert isinstance(later, Withheld)


def test_a_basis_whose_signature_fails_counts_for_nothing(db, keys):
    w = _world(db, keys, birth=date(2012, 3, 1))
    write(db, keys, w, "identity", {"preferred_name": "R"})
    basis = _record(db, keys, w)
    basis.sections = "identity,investigation"  # the index widened in the db: not signed
    db.add(basis)
    db.flush()
    assert isinstance(_seen(db, keys, w, "identity"), Withheld)
    basis.document = basis.document.replace("investigation", "identity")  # tampered in the db
    basis.sections = "identity,investigation"
    db.add(basis)
    db.flush()
    assert isinstance(_seen(db, keys, w), Withheld)


def test_a_community_based_agency_cannot_record_a_basis(db, keys):
    w = _world(db, keys, birth=date(2012, 3, 1))
    w.owner.kind = AgencyKind.COMMUNITY
    db.add(w.owner)
    with pytest.raises(Invalid) as error:
        _record(db, keys, w)
    assert "community-based" in error.value.errors["citation"]
    assert db.exec(select(LegalBasis)).all() == []


def test_bad_basis_input_is_named_field_by_field(db, keys):
    w = _world(db, keys, birth=date(2012, 3, 1))
    with pytest.raises(Invalid) as error:
        _record(db, keys, w, citation="", sections=["not_a_section"], purpose="gossip")
    assert set(error.value.errors) == {"citation", "sections", "purpose"}


def test_a_basis_stands_in_for_its_survivors_release_on_the_mdts_records(db, keys):
    """A decision is about every survivor on the case: the shelter reads it once the
    clinic's survivor released it to the shelter and the police unit's survivor is covered
    by the unit's signed basis; the coordinator's audit entry names the basis."""
    team = Team(db, keys)
    team.decision(db)
    team.release(db, keys, team.a, [team.b])
    shelter = team.requester(team.b)

    def seen(at=LATER):
        return case_records.case_decisions(db, shelter, team.case, at=at, tz=UTC, keys=keys)

    assert isinstance(seen(), Withheld)  # unit R's survivor has released nothing
    lead = make.user(db, team.r, Role.AGENCY_LEAD)
    basis = legal_bases.record_basis(
        db,
        team.r,
        citation=CITATION,
        sections=["mdt_decisions"],
        purpose="mdt_case_review",
        minors_only=False,
        actor=lead,
        keys=keys,
        at=make.AT,
    )
    shown = seen()
    assert isinstance(shown, Released) and basis.public_id in shown.legal_basis
    entry = db.exec(
        select(AuditEntry)
        .where(
            AuditEntry.agency_id == team.coordinator.id,
            AuditEntry.tag == "disclosure:section:released",
            AuditEntry.section_key == "mdt_decisions",
        )
        .order_by(AuditEntry.id.desc())
    ).first()
    assert CITATION in json.loads(entry.detail)["legal_basis"]
    # A minors-only basis does not cover the unit's adult survivor.
    legal_bases.retire_basis(db, team.r, basis.public_id, actor=lead, at=make.AT)
    legal_bases.record_basis(
        db,
        team.r,
        citation=CITATION + " (minors)",
        sections=["mdt_decisions"],
        purpose="mdt_case_review",
        minors_only=True,
        actor=lead,
        keys=keys,
        at=make.AT,
    )
    assert isinstance(seen(at=NEXT), Withheld)


def test_a_summary_reads_every_owners_legal_bases_in_one_statement(db, keys):
    """A case summary asks every owner's disclosure point; each system-based owner's bases
    in force were read with a statement of their own, built on every request (a tenth of
    the summary's time). Now one prebuilt read serves the page, and each basis still
    counts for its own owner only."""
    w = _world(db, keys, birth=date(2012, 3, 1))
    write(db, keys, w, "investigation", {"status": "open"})
    _record(db, keys, w)
    owners = [w.owner]
    for _ in range(2):
        other = make.agency(db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.LAW_ENFORCEMENT)
        client = make.client_record(db, other, keys, birth=date(2012, 3, 1))
        cases.link_client(db, w.case, other, client, actor=None, at=make.AT, confirmed=True)
        staff = make.user(db, other, Role.AGENCY_LEAD, Role.INVESTIGATOR)
        write(
            db,
            keys,
            World(other, w.partner, client, None, w.case, staff, None),
            "investigation",
            {"status": "open"},
        )
        owners.append(other)
    # The last owner records no basis: its investigation stays withheld.
    for other in owners[1:-1]:
        legal_bases.record_basis(
            db,
            other,
            actor=None,
            keys=keys,
            at=make.AT,
            citation=CITATION,
            sections=["investigation"],
            purpose="mdt_case_review",
            minors_only=True,
        )
    db.flush()
    requester = Requester.of(
        w.partner_staff, w.partner, {Role.INVESTIGATOR.value}, purpose="mdt_case_review"
    )
    with counted(db) as statements:
        blocks = case_summary.page_blocks(
            db,
            requester,
            w.case,
            case_summary.participants(db, w.case),
            at=LATER,
            tz=UTC,
            keys=keys,
            budget_seconds=60,
        )
    # And one more, under the logs' locks, reads again the bases the releases rested on
    # (`legal_basis._unchanged`: one retired meanwhile withholds): two, for three owners.
    assert sum("legal_basis" in s for s in statements) == 2, statements
    shown = {
        block.participant.agency.id: {d.section.key: d.decision for d in block.decisions}
        for block in blocks
    }
    assert [shown[o.id]["investigation"] for o in owners] == ["released", "released", "withheld"]
