"""Findings of an adversarial review of the disclosure point: a needs assessment's lines
that tell what another section holds (substance use, mental health), audited and written
as that section's. Each test failed before its fix. Synthetic data only."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from disclosure_helpers import Viewer, release, world, write
from sqlmodel import select

from portal.audit import AuditTag
from portal.disclosure import Released, disclose
from portal.models import AgencyKind, AuditEntry, Discipline, Role

import factories as make

LATER = make.AT + timedelta(hours=1)
SU_NOTE = "SYNTHETIC-SU-NOTE-8841"


def test_a_guarded_line_released_under_another_release_is_audited_under_it(db, keys):
    """Before: the needs assessment's substance use line was released under a release that
    names substance use (R2), but the owner's log named only the release used for the
    needs assessment (R1): the survivor's accounting of disclosures and "who saw what under
    R2" missed a 42 CFR Part 2 disclosure. The line is now an entry of its own section."""
    w = world(db, keys, owner_discipline=Discipline.SHELTER)
    write(
        db,
        keys,
        w,
        "needs_assessment",
        {"domains": {"substance use": {"status": "need identified", "note": SU_NOTE}}},
    )
    r1 = release(db, keys, w, ["needs_assessment"])
    r2 = release(db, keys, w, ["substance_use"])
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "needs_assessment",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert isinstance(decision, Released)
    assert SU_NOTE in str(decision.content.rows)  # the line was released (under R2)
    entries = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.tag == AuditTag.DISCLOSURE_RELEASED
        )
    ).all()
    found = {(e.section_key, e.release_ref) for e in entries}
    assert found == {("needs_assessment", r1.public_id), ("substance_use", r2.public_id)}
    (line,) = [e for e in entries if e.section_key == "substance_use"]
    assert json.loads(line.detail)["part_of"] == "needs_assessment"
    assert json.loads(line.detail)["line"] == "substance use"
    assert line.client_ref == w.client.public_id  # the survivor's accounting lists it
    # The mental health line, which no release covers, stays a placeholder: no entry says
    # it was released, and the needs assessment's own entry names it as withheld.
    (needs,) = [e for e in entries if e.section_key == "needs_assessment"]
    assert json.loads(needs.detail)["parts_withheld"] == ["mental health"]


def test_a_role_kept_from_substance_use_cannot_erase_its_line_by_saving_the_needs(db, keys):
    """Before (the write side of the guarded lines): an own advocate, whom the policy keeps
    from substance use, saved the needs assessment, and the new version dropped the
    substance use line a clinician wrote (a save replaces every line); with the page hiding
    the line, every advocate save would have erased it. The line is kept as it was."""
    from portal.services import section_versions, sections

    w = world(db, keys, owner_discipline=Discipline.SHELTER)
    write(
        db,
        keys,
        w,
        "needs_assessment",
        {"domains": {"substance use": {"status": "need identified", "note": SU_NOTE}}},
    )
    advocate = make.user(db, w.owner, Role.ADVOCATE)
    db.flush()
    sections.write_section(
        db,
        w.client,
        "needs_assessment",
        {"domains": {"food": {"status": "met", "note": "SYNTHETIC-FOOD"}}},
        requester=Viewer(advocate, w.owner, frozenset({Role.ADVOCATE.value})).asking(
            "mdt_case_review"
        ),
        keys=keys,
        at=LATER,
    )
    latest = section_versions.latest(db, w.client, "needs_assessment")
    content = section_versions.open_content(db, latest, keys=keys)
    assert content["domains"]["substance use"]["note"] == SU_NOTE, (
        "an advocate's save erased the substance use line it may neither read nor write"
    )


def _legal_world(db, keys, partner_kind, *, immigration: bool):
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY, partner_kind=partner_kind)
    ticked = ["protective order", "immigration"] if immigration else ["protective order"]
    write(db, keys, w, "legal_court", {"proceedings": ticked, "notes": SU_NOTE})
    release(db, keys, w, ["legal_court", "next_hearing", "immigration"])
    return w


def _rows(decision) -> dict:
    assert isinstance(decision, Released), decision
    return {row.label: row.value for row in decision.content.rows}


@pytest.mark.parametrize("immigration", [True, False])
def test_an_immigration_proceeding_is_not_told_to_a_system_based_agency(db, keys, immigration):
    """Before: the legal section's proceedings listed "immigration" to a system-based
    investigator (released legal and court for MDT case review), though the policy gives
    the immigration section to no system-based agency, where immigration status could be
    used against the survivor. The line is now the immigration section's: a placeholder in
    its place, whether or not it was ticked, and audited as withheld there."""
    w = _legal_world(db, keys, AgencyKind.SYSTEM, immigration=immigration)
    investigator = make.user(db, w.partner, Role.INVESTIGATOR)
    asking = Viewer(investigator, w.partner, frozenset({Role.INVESTIGATOR.value}))
    decision = disclose(
        db,
        asking.asking("mdt_case_review"),
        w.case,
        w.owner,
        "legal_court",
        LATER,
        tz=UTC,
        keys=keys,
    )
    rows = _rows(decision)
    assert rows["Proceedings"] == ["protective order"]
    assert rows["Proceedings: immigration"].startswith("withheld: ")
    needs = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.section_key == "legal_court"
        )
    ).one()
    assert json.loads(needs.detail)["parts_withheld"] == ["immigration"]


def test_an_immigration_proceeding_is_told_where_the_immigration_section_is(db, keys):
    """A community-based case manager, to whom the policy and the release give the
    immigration section, reads the tick, audited under the immigration section too."""
    w = _legal_world(db, keys, AgencyKind.COMMUNITY, immigration=True)
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "legal_court",
        LATER,
        tz=UTC,
        keys=keys,
    )
    rows = _rows(decision)
    assert rows["Proceedings"] == ["protective order", "immigration"]
    assert "Proceedings: immigration" not in rows
    line = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.section_key == "immigration"
        )
    ).one()
    assert json.loads(line.detail)["part_of"] == "legal_court"


def test_a_survivor_mentor_reads_the_next_hearing_without_the_immigration_proceeding(db, keys):
    """The next hearing, the part of the legal section a survivor-mentor is given, carries
    the proceedings too: the immigration one stays the immigration section's."""
    w = _legal_world(db, keys, AgencyKind.COMMUNITY, immigration=True)
    mentor = make.user(db, w.partner, Role.SURVIVOR_MENTOR)
    asking = Viewer(mentor, w.partner, frozenset({Role.SURVIVOR_MENTOR.value}))
    decision = disclose(
        db,
        asking.asking("mdt_case_review"),
        w.case,
        w.owner,
        "next_hearing",
        LATER,
        tz=UTC,
        keys=keys,
    )
    rows = _rows(decision)
    assert rows["Proceedings"] == ["protective order"]
    assert rows["Proceedings: immigration"].startswith("withheld: ")
