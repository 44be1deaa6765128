"""Issue 14, one door: the MDT's decisions and tasks reach another agency only through
their owner's disclosure point, under its policy and the consent of every survivor on the
case, audited in the owner's log and the receiver's."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlmodel import select

from portal.disclosure import Released, Withheld
from portal.models import AuditEntry, CaseLink, Role
from portal.placeholders import sentence
from portal.requester import Requester
from portal.services import case_records, cases, releases, tasks

import factories as make
from team_helpers import DECISION_NOTE, TODAY, Team

LATER = make.AT + timedelta(hours=1)
TASK_TITLE = "SYNTHETIC-TASK-TITLE"


def _decisions(db, keys, team, agency):
    return case_records.case_decisions(
        db, team.requester(agency), team.case, at=LATER, tz=UTC, keys=keys
    )


def _entries(db, agency, tag):
    return db.exec(
        select(AuditEntry).where(AuditEntry.agency_id == agency.id, AuditEntry.tag == tag)
    ).all()


def test_a_decision_about_two_survivors_needs_both_releases_per_recipient(db, keys):
    team = Team(db, keys)
    team.decision(db)
    # A's survivor names R; B's does not yet.
    team.release(db, keys, team.a, [team.r])
    seen = _decisions(db, keys, team, team.r)
    assert isinstance(seen, Withheld) and seen.gate == "no_consent"
    assert DECISION_NOTE not in repr(seen)
    # The placeholder never says which survivor or agency lacks a release.
    words = sentence(seen.why)
    assert "every survivor" in words
    assert team.a.name not in words and team.b.name not in words
    withheld = _entries(db, team.coordinator, "disclosure:section:withheld")
    assert [e.section_key for e in withheld] == ["mdt_decisions"]
    assert withheld[0].client_ref is None  # a record of the case, not of one client

    # B's own staff need only A's and R's survivors' consent (its own client is its own).
    team.release(db, keys, team.r, [team.b])
    assert isinstance(_decisions(db, keys, team, team.b), Withheld)  # A's names only R
    team.release(db, keys, team.a, [team.b])
    for_b = _decisions(db, keys, team, team.b)
    assert isinstance(for_b, Released)
    assert [i.values["text"] for i in for_b.content.items] == [DECISION_NOTE]
    # ...while R still waits on B's survivor: disclosed per recipient.
    assert isinstance(_decisions(db, keys, team, team.r), Withheld)
    team.release(db, keys, team.b, [team.r])
    assert isinstance(_decisions(db, keys, team, team.r), Released)
    # Both sides audited: the coordinator decided, R received.
    released = _entries(db, team.coordinator, "disclosure:section:released")
    assert {e.section_key for e in released} == {"mdt_decisions"}
    assert _entries(db, team.r, "disclosure:section:received")


def test_the_coordinators_own_staff_read_its_decisions_under_policy_only(db, keys):
    team = Team(db, keys)
    team.decision(db)
    own = _decisions(db, keys, team, team.coordinator)
    assert isinstance(own, Released) and own.release_ref is None
    # Need to know holds inside the agency: a role the policy gives nothing is refused.
    lead = Requester.of(
        team.staff[team.coordinator.id],
        team.coordinator,
        {Role.AGENCY_LEAD.value},
        purpose="mdt_case_review",
    )
    refused = case_records.case_decisions(db, lead, team.case, at=LATER, tz=UTC, keys=keys)
    assert isinstance(refused, Withheld) and refused.gate == "policy"


def test_a_task_assigned_to_another_agency_shows_its_text_only_as_released(db, keys):
    team = Team(db, keys)
    writer = team.staff[team.a.id]
    task = tasks.create_task(
        db,
        team.case,
        title=TASK_TITLE,
        details="SYNTHETIC-TASK-DETAILS",
        assignee=f"agency:{team.r.public_id}",
        due_date=(TODAY + timedelta(days=7)).isoformat(),
        offered=None,
        actor=writer,
        at=make.AT,
        today=TODAY,
    )
    tasks.add_comment(db, task, "SYNTHETIC-COMMENT", actor=writer, at=make.AT)
    db.flush()
    assert task.owner_agency_id == team.a.id
    rows = tasks.task_list(db, team.staff[team.r.id], team.r, tasks.TaskFilter(scope="agency"))
    (row,) = tasks.with_text(db, team.requester(team.r), rows, at=LATER, tz=UTC, keys=keys)
    # Tracked without its text: due date and status; whose task it is only as far as R may
    # be told that Clinic A takes part (not yet: its point has no release naming R).
    assert row.title is None and row.withheld is not None
    assert row.owner_name == tasks.UNTOLD and not row.owner_told and row.assignee_told
    assert row.due_date == TODAY + timedelta(days=7) and row.status == "open"

    team.release(db, keys, team.b, [team.r])
    team.release(db, keys, team.a, [team.r], sections=["mdt_decisions"])  # not the tasks
    (row,) = tasks.with_text(db, team.requester(team.r), rows, at=LATER, tz=UTC, keys=keys)
    assert row.withheld is not None
    team.release(db, keys, team.a, [team.r])
    (row,) = tasks.with_text(
        db, team.requester(team.r), rows, at=LATER, tz=UTC, keys=keys, refs=(task.public_id,)
    )
    assert row.withheld is None and row.title == TASK_TITLE
    assert [body for _at, _name, body in row.comments] == ["SYNTHETIC-COMMENT"]
    assert [change.field for change, _name in row.history] == ["created"]
    assert row.owner_name == tasks.UNTOLD  # the text released, not yet that A takes part
    team.release(db, keys, team.a, [team.r], sections=["participation"])
    (row,) = tasks.with_text(db, team.requester(team.r), rows, at=LATER, tz=UTC, keys=keys)
    assert row.owner_name == team.a.name and row.owner_told


def test_revoking_a_release_withholds_the_mdt_records_from_the_next_request(db, keys):
    team = Team(db, keys)
    team.decision(db)
    team.release(db, keys, team.b, [team.a])
    given = team.release(db, keys, team.r, [team.a])
    assert isinstance(_decisions(db, keys, team, team.a), Released)
    releases.revoke(db, given, reason="synthetic", actor=team.staff[team.r.id], keys=keys, at=LATER)
    db.flush()
    after = case_records.case_decisions(
        db, team.requester(team.a), team.case, at=LATER + timedelta(seconds=1), tz=UTC, keys=keys
    )
    assert isinstance(after, Withheld) and after.gate == "consent_revoked"
    # The links stay: the owner's record of them is history.
    links = db.exec(select(CaseLink).where(CaseLink.case_id == team.case.id)).all()
    assert len(links) == 3 and all(link.confirmed_at for link in links)


def test_an_agency_not_confirmed_on_the_case_is_told_nothing(db, keys):
    team = Team(db, keys)
    team.decision(db)
    outsider = make.agency(db, keys, name="Invited only (synthetic)")
    team.staff[outsider.id] = make.user(db, outsider, Role.ADVOCATE)
    cases.link_client(db, team.case, outsider, None, actor=None, at=make.AT, confirmed=False)
    db.flush()
    seen = _decisions(db, keys, team, outsider)
    assert isinstance(seen, Withheld) and seen.gate == "not_linked"


def test_a_mentor_sees_the_next_hearing_and_not_the_legal_notes(db, keys):
    """Seed 004: keep the survivor informed on legal cases, without the legal section."""
    from disclosure_helpers import release, world, write

    from portal.disclosure import disclose
    from portal.models import Discipline

    w = world(db, keys, owner_discipline=Discipline.PROSECUTION)
    write(
        db,
        keys,
        w,
        "legal_court",
        {"next_hearing": "2026-12-14", "proceedings": ["dependency"], "notes": "SYNTHETIC-NOTES"},
    )
    release(db, keys, w, ["next_hearing", "legal_court", "investigation"])
    mentor = w.viewer(Role.SURVIVOR_MENTOR)

    def seen(section):
        return disclose(db, mentor, w.case, w.owner, section, LATER, tz=UTC, keys=keys)

    hearing = seen("next_hearing")
    assert isinstance(hearing, Released)
    assert {r.label: r.value for r in hearing.content.rows} == {
        "Next hearing": "2026-12-14",
        "Proceedings": ["dependency"],
        # Whether or not it is ticked: the immigration section's, which is not the mentor's.
        "Proceedings: immigration": "withheld: the disclosure policy does not release "
        "immigration to a survivor-mentor at a community-based agency for MDT case review",
    }
    for whole in ("legal_court", "investigation"):
        refused = seen(whole)
        assert isinstance(refused, Withheld) and refused.gate == "policy"
    assert "SYNTHETIC-NOTES" not in repr(hearing)


def test_a_part_is_answered_only_where_its_whole_is_withheld(db, keys):
    """A case manager reads the whole placement section; a placeholder saying its placement
    type was withheld would contradict the page. A mentor, refused the whole, reads the
    part. Only what was decided is in the owner's log."""
    from disclosure_helpers import release, world, write

    from portal.disclosure.point import disclose_sections
    from portal.models import Discipline

    w = world(db, keys, owner_discipline=Discipline.CHILD_WELFARE)
    write(db, keys, w, "placement_housing", {"placement_type": "kinship", "stability": "steady"})
    release(db, keys, w, ["placement_housing", "placement_type"])

    def seen(*roles):
        decisions = disclose_sections(
            db,
            w.viewer(*roles),
            w.case,
            w.owner,
            ["placement_type", "placement_housing"],  # the part asked first
            LATER,
            tz=UTC,
            keys=keys,
        )
        return {d.section.key: d for d in decisions}

    case_manager = seen(Role.CASE_MANAGER)
    assert list(case_manager) == ["placement_housing"]
    assert isinstance(case_manager["placement_housing"], Released)
    mentor = seen(Role.SURVIVOR_MENTOR)
    assert list(mentor) == ["placement_type", "placement_housing"]
    assert isinstance(mentor["placement_type"], Released)
    assert isinstance(mentor["placement_housing"], Withheld)
    logged = [
        (e.actor_role, e.section_key, e.decision)
        for e in _entries(db, w.owner, "disclosure:section:released")
        + _entries(db, w.owner, "disclosure:section:withheld")
    ]
    assert sorted(logged) == [
        ("case_manager", "placement_housing", "released"),
        ("survivor_mentor", "placement_housing", "withheld"),
        ("survivor_mentor", "placement_type", "released"),
    ]
