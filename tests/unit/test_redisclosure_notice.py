"""A disclosure of substance use records carries 42 CFR 2.32's notice to its recipient:
the substance use section, and a needs assessment whose substance use line is released.
The owner's catalogue says which sections carry which notice; the owner's point puts it on
the decision, the wire and the API carry it, and every page that shows the content shows
it. Before, nothing told a recipient that the record may not be disclosed again.
Synthetic data only."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from disclosure_helpers import SU_NOTE, assessed, release, world, write

from portal.disclosure import Released, disclose
from portal.federation import wire
from portal.models import Discipline, Role
from portal.sections import catalogue, parse

import factories as make

LATER = make.AT + timedelta(hours=1)
PART2 = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."


def _decided(db, keys, w, asking, section: str) -> Released:
    decision = disclose(
        db, asking.asking("mdt_case_review"), w.case, w.owner, section, LATER, tz=UTC, keys=keys
    )
    assert isinstance(decision, Released), decision
    return decision


def test_the_catalogue_gives_substance_use_the_part_2_notice_and_no_other_section():
    noticed = {s.key: s.notice for s in catalogue().sections if s.notice}
    assert noticed == {"substance_use": PART2}


def test_a_notice_the_catalogue_does_not_hold_is_refused():
    with pytest.raises(ValueError, match="notice 'part9' is not in"):
        parse({"section": [{"key": "s", "title": "S", "notice": "part9", "fields": []}]})


def test_a_partner_given_substance_use_is_given_the_notice_with_it(db, keys):
    w = world(db, keys, owner_discipline=Discipline.HEALTH)
    write(db, keys, w, "substance_use", {"services": "engaged", "summary": SU_NOTE})
    release(db, keys, w, ["substance_use"])
    decision = _decided(db, keys, w, w.viewer(Role.CASE_MANAGER), "substance_use")
    assert decision.notices == (PART2,)
    # Not for the owner's own staff: nothing is disclosed to them.
    own = _decided(db, keys, w, w.own_viewer(Role.CLINICIAN), "substance_use")
    assert own.notices == ()


def test_a_needs_assessment_carries_the_notice_only_with_its_substance_use_line(db, keys):
    w = assessed(db, keys)
    release(db, keys, w, ["needs_assessment"])
    without = _decided(db, keys, w, w.viewer(Role.CASE_MANAGER), "needs_assessment")
    assert without.notices == ()  # the line is a placeholder: no substance use record
    release(db, keys, w, ["needs_assessment", "substance_use"])
    with_line = _decided(db, keys, w, w.viewer(Role.CASE_MANAGER), "needs_assessment")
    assert SU_NOTE in str(with_line.content.rows) and with_line.notices == (PART2,)


def test_the_wire_carries_the_owners_notice_and_refuses_one_that_is_not_text(db, keys):
    w = world(db, keys, owner_discipline=Discipline.HEALTH)
    write(db, keys, w, "substance_use", {"services": "engaged", "summary": SU_NOTE})
    release(db, keys, w, ["substance_use"])
    sent = wire.decision_dict(_decided(db, keys, w, w.viewer(Role.CASE_MANAGER), "substance_use"))
    assert sent["notices"] == [PART2]
    received = wire.decision_from(sent, w.owner)
    assert received.notices == (PART2,)
    for bad in ({"part2": True}, [7], ["x" * 2001], ["a"] * 6):
        with pytest.raises(wire.WireError, match=r"decision\.notices"):
            wire.decision_from({**sent, "notices": bad}, w.owner)
    assert wire.decision_from({**sent, "notices": None}, w.owner).notices == ()
