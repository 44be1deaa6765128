"""A needs assessment's substance use and mental health lines tell what those sections
hold (substance use is 42 CFR Part 2 matter), as the legal section's immigration
proceeding tells what the immigration section holds: each line reaches a reader only where
that section's own gates, policy and consent, would release it, and is audited as that
section's disclosure. Synthetic data only."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from disclosure_helpers import (
    FOOD_NOTE,
    MH_NOTE,
    SU_NOTE,
    Viewer,
    assessed,
    release,
    world,
    write,
)
from sqlmodel import select

from portal.audit import AuditTag
from portal.disclosure import Released, disclose
from portal.models import AgencyKind, AuditEntry, Discipline, Role

import factories as make

LATER = make.AT + timedelta(hours=1)


def _decided(db, keys, w, asking, section: str) -> Released:
    decision = disclose(
        db, asking.asking("mdt_case_review"), w.case, w.owner, section, LATER, tz=UTC, keys=keys
    )
    assert isinstance(decision, Released), decision
    return decision


def _needs(db, keys, w, role):
    decision = _decided(db, keys, w, w.viewer(role), "needs_assessment")
    return next(r.value for r in decision.content.rows if r.type == "domains")


def _owner_entries(db, w, **where) -> list[AuditEntry]:
    return list(
        db.exec(
            select(AuditEntry).where(
                AuditEntry.agency_id == w.owner.id,
                *(getattr(AuditEntry, column) == value for column, value in where.items()),
            )
        ).all()
    )


def test_a_release_naming_the_needs_assessment_alone_shows_neither_guarded_line(db, keys):
    w = assessed(db, keys)
    release(db, keys, w, ["needs_assessment"])
    domains = _needs(db, keys, w, Role.CASE_MANAGER)
    assert domains["food"]["note"] == FOOD_NOTE
    for line, note in (("substance use", SU_NOTE), ("mental health", MH_NOTE)):
        assert note not in str(domains)
        assert domains[line]["status"] == "" and domains[line]["note"] == ""
        assert "no current release" in domains[line]["withheld"].lower()
    entry = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.tag == AuditTag.DISCLOSURE_RELEASED
        )
    ).one()
    assert "substance use" in entry.detail and "mental health" in entry.detail


def test_a_guarded_line_shows_where_its_own_section_would(db, keys):
    w = assessed(db, keys)
    release(db, keys, w, ["needs_assessment", "substance_use"])
    domains = _needs(db, keys, w, Role.CASE_MANAGER)
    assert domains["substance use"]["note"] == SU_NOTE
    assert MH_NOTE not in str(domains)  # the release does not name mental health


def test_a_role_the_policy_keeps_from_substance_use_never_sees_its_line(db, keys):
    w = assessed(db, keys)
    release(db, keys, w, ["needs_assessment", "substance_use", "mental_health"])
    advocate = make.user(db, w.partner, Role.ADVOCATE)
    w.partner_staff = advocate
    domains = _needs(db, keys, w, Role.ADVOCATE)
    assert domains["food"]["note"] == FOOD_NOTE
    assert SU_NOTE not in str(domains) and MH_NOTE not in str(domains)
    assert domains["substance use"]["withheld"].startswith(
        "the disclosure policy does not release substance use to an advocate"
    )


def test_a_guarded_line_left_empty_is_withheld_alike(db, keys):
    """The placeholder never tells whether the owner wrote anything in that line."""
    w = world(db, keys, owner_discipline=Discipline.SHELTER)
    write(
        db,
        keys,
        w,
        "needs_assessment",
        {"domains": {"food": {"status": "met", "note": ""}}, "assessed_on": "2026-11-01"},
    )
    release(db, keys, w, ["needs_assessment"])
    domains = _needs(db, keys, w, Role.CASE_MANAGER)
    assert set(domains) >= {"substance use", "mental health"}
    assert domains["substance use"]["withheld"] and domains["mental health"]["withheld"]


def test_a_guarded_line_released_under_another_release_is_audited_under_it(db, keys):
    """Before: the substance use line, released under a release that names substance use
    (R2), was audited only in the needs assessment's entry, under its release (R1): the
    survivor's accounting of disclosures and "who saw what under R2" missed a 42 CFR Part 2
    disclosure. The line is now an entry of its own section, under its own release."""
    w = assessed(db, keys)
    r1 = release(db, keys, w, ["needs_assessment"])
    r2 = release(db, keys, w, ["substance_use"])
    assert SU_NOTE in str(_needs(db, keys, w, Role.CASE_MANAGER))
    entries = _owner_entries(db, w, tag=AuditTag.DISCLOSURE_RELEASED)
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
    """Before: an own advocate, whom the policy keeps from substance use, saved the needs
    assessment, and the new version dropped the substance use line a clinician wrote (a
    save replaces every line); with the page hiding the line, every advocate save would
    have erased it. The line is kept as it was."""
    from portal.services import section_versions, sections

    w = assessed(db, keys)
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
    assert content["domains"]["food"]["note"] == "SYNTHETIC-FOOD"
    assert content["domains"]["substance use"]["note"] == SU_NOTE
    assert content["domains"]["mental health"]["note"] == MH_NOTE


def _legal(db, keys, partner_kind, *, immigration: bool):
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY, partner_kind=partner_kind)
    ticked = ["protective order", "immigration"] if immigration else ["protective order"]
    write(db, keys, w, "legal_court", {"proceedings": ticked, "notes": "SYNTHETIC-LEGAL"})
    release(db, keys, w, ["legal_court", "next_hearing", "immigration"])
    return w


def _rows(decision: Released) -> dict:
    return {row.label: row.value for row in decision.content.rows}


@pytest.mark.parametrize("immigration", [True, False])
def test_an_immigration_proceeding_is_not_told_to_a_system_based_agency(db, keys, immigration):
    """Before: the legal section's proceedings listed "immigration" to a system-based
    investigator (released legal and court for MDT case review), though the policy gives
    the immigration section to no system-based agency, where immigration status could be
    used against the survivor. The line is now the immigration section's: a placeholder in
    its place, whether or not it was ticked, and named as withheld in the entry."""
    w = _legal(db, keys, AgencyKind.SYSTEM, immigration=immigration)
    investigator = make.user(db, w.partner, Role.INVESTIGATOR)
    asking = Viewer(investigator, w.partner, frozenset({Role.INVESTIGATOR.value}))
    rows = _rows(_decided(db, keys, w, asking, "legal_court"))
    assert rows["Proceedings"] == ["protective order"]
    assert rows["Proceedings: immigration"].startswith("withheld: ")
    (entry,) = _owner_entries(db, w, section_key="legal_court")
    assert json.loads(entry.detail)["parts_withheld"] == ["immigration"]


def test_an_immigration_proceeding_is_told_where_the_immigration_section_is(db, keys):
    """A community-based case manager, to whom the policy and the release give the
    immigration section, reads the tick, audited under the immigration section too."""
    w = _legal(db, keys, AgencyKind.COMMUNITY, immigration=True)
    rows = _rows(_decided(db, keys, w, w.viewer(Role.CASE_MANAGER), "legal_court"))
    assert rows["Proceedings"] == ["protective order", "immigration"]
    assert "Proceedings: immigration" not in rows
    (line,) = _owner_entries(db, w, section_key="immigration")
    assert json.loads(line.detail)["part_of"] == "legal_court"


def test_a_survivor_mentor_reads_the_next_hearing_without_the_immigration_proceeding(db, keys):
    """The next hearing, the part of the legal section a survivor-mentor is given, carries
    the proceedings too: the immigration one stays the immigration section's."""
    w = _legal(db, keys, AgencyKind.COMMUNITY, immigration=True)
    mentor = make.user(db, w.partner, Role.SURVIVOR_MENTOR)
    asking = Viewer(mentor, w.partner, frozenset({Role.SURVIVOR_MENTOR.value}))
    rows = _rows(_decided(db, keys, w, asking, "next_hearing"))
    assert rows["Proceedings"] == ["protective order"]
    assert rows["Proceedings: immigration"].startswith("withheld: ")


def _receipts(db, w) -> list[AuditEntry]:
    return list(
        db.exec(
            select(AuditEntry)
            .where(
                AuditEntry.agency_id == w.partner.id,
                AuditEntry.tag == AuditTag.DISCLOSURE_RECEIVED,
            )
            .order_by(AuditEntry.seq)
        ).all()
    )


def test_the_recipients_receipts_name_a_line_released_under_another_release(db, keys):
    """Before: the partner's log received the needs assessment under R1 and nothing else,
    though its staff were shown the substance use line under R2: the agency that received
    42 CFR Part 2 matter could not find it in its own log. Its receipts now name the line
    under its own section and release, as the owner's log does."""
    w = assessed(db, keys)
    r1 = release(db, keys, w, ["needs_assessment"])
    r2 = release(db, keys, w, ["substance_use"])
    decision = _decided(db, keys, w, w.viewer(Role.CASE_MANAGER), "needs_assessment")
    assert [(line.section.key, line.line, line.release_ref) for line in decision.lines] == [
        ("substance_use", "substance use", r2.public_id)
    ]
    receipts = _receipts(db, w)
    assert [(e.section_key, e.release_ref) for e in receipts] == [
        ("needs_assessment", r1.public_id),
        ("substance_use", r2.public_id),
    ]
    assert json.loads(receipts[1].detail) == {
        "owner": w.owner.public_id,
        "part_of": "needs_assessment",
        "line": "substance use",
    }
    assert receipts[1].policy_rule and receipts[1].client_ref is None
    # A line left a placeholder (no release covers mental health) is received by no one.
    assert "mental health" not in str([e.detail for e in receipts])


def test_the_wire_carries_the_released_lines_and_refuses_one_no_section_guards(db, keys):
    from portal.federation import wire

    w = assessed(db, keys)
    release(db, keys, w, ["needs_assessment", "substance_use"])
    sent = wire.decision_dict(
        _decided(db, keys, w, w.viewer(Role.CASE_MANAGER), "needs_assessment")
    )
    assert [(line["section"], line["line"]) for line in sent["lines"]] == [
        ("substance_use", "substance use")
    ]
    received = wire.decision_from(sent, w.owner)
    assert (
        received.lines
        == _decided(db, keys, w, w.viewer(Role.CASE_MANAGER), "needs_assessment").lines
    )
    line = sent["lines"][0]
    for bad in (
        {"line": "x"},
        [{**line, "section": "medical"}],  # medical guards no line of the needs assessment
        [{**line, "line": "food"}],
        [line, line, line],
        [{**line, "release_ref": "x" * 37}],
    ):
        with pytest.raises(wire.WireError, match=r"decision\.(lines|release_ref)"):
            wire.decision_from({**sent, "lines": bad}, w.owner)
    assert wire.decision_from({**sent, "lines": None}, w.owner).lines == ()  # an older node


def test_a_part_guarded_otherwise_than_its_whole_is_refused_by_the_catalogue():
    """A part is answered only where its whole is withheld, its fields read in the whole
    otherwise: a catalogue guarding a line in the part and not in the whole (or the other
    way round) would let the whole show what the part withholds. Found by this session's
    review of 9910cbf."""
    from portal.sections import parse

    def catalogue_of(whole_guard: dict, part_guard: dict) -> dict:
        def proceedings(guard: dict) -> dict:
            field = {"key": "proceedings", "label": "Proceedings", "type": "checklist"}
            return {**field, "options": ["dependency", "immigration"], "guarded": guard}

        return {
            "section": [
                {"key": "immigration", "title": "Immigration", "fields": []},
                {"key": "legal", "title": "Legal", "fields": [proceedings(whole_guard)]},
                {
                    "key": "hearing",
                    "title": "Hearing",
                    "part_of": "legal",
                    "fields": [proceedings(part_guard)],
                },
            ]
        }

    guard = {"immigration": "immigration"}
    assert parse(catalogue_of(guard, guard)).get("hearing").part_of == "legal"
    for whole_guard, part_guard in ((guard, {}), ({}, guard)):
        with pytest.raises(ValueError, match="a part's lines are guarded as in its whole"):
            parse(catalogue_of(whole_guard, part_guard))
