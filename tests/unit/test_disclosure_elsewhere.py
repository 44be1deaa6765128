"""Sections kept outside the section versions: MDT minutes (the coordinating agency's
meetings) and mentor accompaniment (the program's log), served by the disclosure point."""

import re
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from disclosure_helpers import Viewer, release
from elsewhere_helpers import MINUTES, NOTE, mentor_world, minutes_world
from sqlmodel import select

from portal.disclosure.point import disclose, preview
from portal.errors import NotFound
from portal.models import AuditEntry, Role
from portal.placeholders import sentence
from portal.services import cases, sections

import factories as make


def disclosure_tags(db, agency):
    return list(
        db.exec(
            select(AuditEntry.tag)
            .where(AuditEntry.agency_id == agency.id, AuditEntry.tag.like("disclosure:%"))
            .order_by(AuditEntry.id)
        ).all()
    )


AT = make.AT + timedelta(hours=1)


def test_minutes_are_released_under_consent_and_audited(db, keys):
    w, meeting = minutes_world(db, keys)
    release(db, keys, w, ["mdt_minutes"])
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mdt_minutes",
        AT,
        tz=UTC,
        keys=keys,
    )
    assert decision.decision == "released"
    ((label, value),) = [(r.label, r.value) for r in decision.content.rows]
    assert value == MINUTES and meeting.meeting_date.isoformat() in label and "held" in label
    assert decision.content.version == 1
    assert disclosure_tags(db, w.owner) == ["disclosure:section:released"]
    assert disclosure_tags(db, w.partner) == ["disclosure:section:received"]


def test_minutes_without_a_release_are_withheld_and_audited(db, keys):
    w, _ = minutes_world(db, keys)
    release(db, keys, w, ["medical"])  # a release that does not name the minutes
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mdt_minutes",
        AT,
        tz=UTC,
        keys=keys,
    )
    assert decision.decision == "withheld" and decision.gate == "no_consent"
    assert MINUTES not in repr(decision)
    assert disclosure_tags(db, w.owner) == ["disclosure:section:withheld"]


def test_minutes_withheld_by_policy_for_a_role_the_policy_does_not_name(db, keys):
    w, _ = minutes_world(db, keys)
    release(db, keys, w, ["mdt_minutes"])
    decision = disclose(
        db,
        w.viewer(Role.ADMINISTRATOR).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mdt_minutes",
        AT,
        tz=UTC,
        keys=keys,
    )
    assert decision.decision == "withheld" and decision.gate == "policy"


def test_the_coordinating_agency_reads_its_own_minutes_without_a_release(db, keys):
    w, _ = minutes_world(db, keys)
    decision = disclose(
        db,
        w.own_viewer(Role.MDT_COORDINATOR).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mdt_minutes",
        AT,
        tz=UTC,
        keys=keys,
    )
    assert decision.decision == "released" and decision.release_ref is None
    assert decision.content.rows[0].value == MINUTES
    assert disclosure_tags(db, w.owner) == ["disclosure:section:released"]


def test_minutes_of_another_case_never_leak_into_this_one(db, keys):
    w, _ = minutes_world(db, keys)
    other = make.mdt_case(db, w.owner)
    cases.link_client(db, other, w.owner, w.client, actor=None, at=make.AT, confirmed=True)
    db.flush()
    decision = disclose(
        db,
        w.own_viewer(Role.MDT_COORDINATOR).asking("mdt_case_review"),
        other,
        w.owner,
        "mdt_minutes",
        AT,
        tz=UTC,
        keys=keys,
    )
    assert decision.decision == "released" and decision.content.rows == ()
    assert decision.content.version is None


def test_minutes_and_accompaniment_cannot_be_written_as_section_versions(db, keys):
    w, _ = minutes_world(db, keys)
    with pytest.raises(NotFound):
        sections.save_section(
            db,
            w.client,
            "mdt_minutes",
            {"minutes": "x"},
            actor=w.owner_staff,
            keys=keys,
            at=make.AT,
        )


def test_accompaniment_is_released_without_the_mentors_notes(db, keys):
    w, coordinator = mentor_world(db, keys)
    release(db, keys, w, ["mentor_accompaniment"])
    decision = disclose(
        db,
        coordinator.asking("mdt_case_review"),
        w.case,
        w.owner,
        "mentor_accompaniment",
        AT,
        tz=UTC,
        keys=keys,
    )
    assert decision.decision == "released"
    (row,) = decision.content.rows
    assert "Court appearance, 1 h 30 min, Courthouse, went ahead" in row.value
    assert "follow-up: Ask about transport" in row.value
    assert NOTE not in repr(decision)
    assert disclosure_tags(db, w.owner) == ["disclosure:section:released"]


def test_accompaniment_without_consent_is_withheld(db, keys):
    w, coordinator = mentor_world(db, keys)
    decision = disclose(
        db,
        coordinator.asking("mdt_case_review"),
        w.case,
        w.owner,
        "mentor_accompaniment",
        AT,
        tz=UTC,
        keys=keys,
    )
    assert decision.decision == "withheld" and decision.gate == "no_consent"
    assert "Courthouse" not in repr(decision)
    assert disclosure_tags(db, w.owner) == ["disclosure:section:withheld"]


def test_preview_shows_accompaniment_of_the_clients_cases(db, keys):
    w, _ = mentor_world(db, keys)
    row = release(db, keys, w, ["mentor_accompaniment"])
    advocate = make.user(db, w.owner, Role.ADVOCATE)
    staff = Viewer(advocate, w.owner, frozenset({"advocate"}))
    decisions = preview(db, staff, row, w.partner, "mdt_coordinator", AT, tz=UTC, keys=keys)
    (shown,) = [d for d in decisions if d.section.key == "mentor_accompaniment"]
    assert shown.decision == "released" and "Courthouse" in shown.content.rows[0].value


def test_preview_shows_field_names_only_to_staff_whose_own_policy_withholds(db, keys):
    """Finding 12.1: a lead previewing a release saw the recipient's content although the
    agency's own policy does not let a lead read that section."""
    w, _ = mentor_world(db, keys)
    row = release(db, keys, w, ["mentor_accompaniment"])
    lead = make.user(db, w.owner, Role.AGENCY_LEAD)
    staff = Viewer(lead, w.owner, frozenset({"agency_lead"}))
    decisions = preview(db, staff, row, w.partner, "mdt_coordinator", AT, tz=UTC, keys=keys)
    (shown,) = [d for d in decisions if d.section.key == "mentor_accompaniment"]
    assert shown.decision == "released" and shown.unseen
    assert "Courthouse" not in repr(decisions)
    assert "agency lead" in sentence(shown.why) and shown.field_labels


def test_only_the_disclosure_point_reads_minutes_and_accompaniment_for_others():
    root = Path(__file__).resolve().parents[2] / "portal"
    hooks = {
        # The owner-side sources, which only the disclosure point imports.
        "MeetingMinutes": {"disclosure/sources/minutes.py", "disclosure/sources/__init__.py"},
        "AccompanimentLog": {
            "disclosure/sources/accompaniment.py",
            "disclosure/sources/__init__.py",
        },
        # The tables themselves: only their owners' own services (and pages showing the
        # agency its own entries) name them.
        "Accompaniment": {
            "models/mentoring.py",
            "models/__init__.py",
            "services/mentoring.py",
            "services/mentor_caseload.py",
            "services/mentor_reports.py",
            "services/mentor_tasks.py",
            "web/mentor_pages.py",
            "disclosure/sources/accompaniment.py",
        },
        "AgendaItem": {
            "models/workflow.py",
            "models/__init__.py",
            "services/meetings.py",
            "services/cases.py",  # the meetings a case is on, for an agency joining it
            "services/calendar.py",
            "services/convening.py",
            "disclosure/sources/minutes.py",
            "disclosure/sources/decisions.py",
        },
        # Issue 14: the MDT's decisions and tasks' text are read for a page only by their
        # owner-side sources; the task service writes comments and history, never reads them.
        "MeetingDecisions": {"disclosure/sources/decisions.py", "disclosure/sources/__init__.py"},
        "TaskTexts": {"disclosure/sources/tasks.py", "disclosure/sources/__init__.py"},
        "TaskComment": {
            "models/workflow.py",
            "models/__init__.py",
            "services/tasks.py",
            "disclosure/sources/tasks.py",
        },
        "TaskChange": {
            "models/workflow.py",
            "models/__init__.py",
            "services/tasks.py",
            "disclosure/sources/tasks.py",
        },
        r"Task\.(title|details|blocked_reason)": {"disclosure/sources/tasks.py"},
        # The minutes: the coordinating agency's own staff through `read_minutes` (their
        # role under its policy, audited), anyone else through the point's source.
        r"AgendaItem\.minutes": {"services/meetings.py", "disclosure/sources/minutes.py"},
        r"Decision\.(text|recommendation)": {"disclosure/sources/decisions.py"},
    }
    for name, allowed in hooks.items():
        pattern = re.compile(rf"\b{name}\b" if name.isidentifier() else name)
        readers = {
            str(path.relative_to(root))
            for path in root.rglob("*.py")
            if pattern.search(path.read_text())
        }
        assert readers <= allowed, (name, readers - allowed)
    # The meeting page shows only the minutes `read_minutes` gave it (none to a partner).
    page = (root.parent / "templates" / "workflow" / "meeting.html").read_text()
    assert "row.minutes" not in page and "item.minutes" not in page
    assert "minutes.by_item" in page


def test_only_the_disclosure_point_imports_the_owner_side_sources():
    """Issue 13: nothing outside portal/disclosure reaches an owner's content by importing
    the sources the point reads it through (the import contract checks the same)."""
    root = Path(__file__).resolve().parents[2] / "portal"
    importers = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if re.search(
            r"portal\.disclosure\.sources|from portal\.disclosure import .*\bsources\b",
            path.read_text(),
        )
    }
    assert importers, "the point itself imports them"
    assert all(name.startswith("disclosure/") for name in importers), importers
