"""What a refused form tells: a task form's refusal never tells a partner that a
community-based agency serves the survivor, and a section form shown again beside a bad
value reads the section's history as its page does, audited.

Each test here failed before its fix (found by a review); synthetic data only."""

from __future__ import annotations

from datetime import timedelta

from disclosure_helpers import SECRET_NOTE, world, write
from sqlmodel import select

from portal.models import AuditEntry, Discipline
from portal.services import tasks

import factories as make
from team_helpers import TODAY, Team


def _bystander(db, keys):
    """A community agency on the node that takes no part in the team's case."""
    return make.agency(db, keys, discipline=Discipline.ADVOCACY, name="Mentors C (synthetic)")


def _new_task_status(client, team, assignee: str) -> int:
    csrf = make.csrf_of_page(client, f"/cases/{team.case.public_id}")
    return client.post(
        f"/cases/{team.case.public_id}/tasks",
        data={
            "csrf_token": csrf,
            "title": "SYNTHETIC probe task",
            "assignee": assignee,
            "due_date": (TODAY + timedelta(days=7)).isoformat(),
            "priority": "normal",
        },
    ).status_code


def test_a_task_form_does_not_tell_a_partner_which_community_agencies_take_part(client, db, keys):
    """R may not be told that Clinic A (community) serves the survivor. Naming A as a
    task's assignee must be refused exactly as naming an agency not on the case is; it
    was accepted (303), which tells R that A takes part."""
    team = Team(db, keys)
    stranger = _bystander(db, keys)
    make.login(client, team.staff[team.r.id].username)
    not_on_case = _new_task_status(client, team, f"agency:{stranger.public_id}")
    on_case = _new_task_status(client, team, f"agency:{team.a.public_id}")
    assert not_on_case == 400
    assert on_case == not_on_case


def _section_reads(db, w):
    return db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id,
            AuditEntry.client_ref == w.client.public_id,
            AuditEntry.section_key == "medical",
            AuditEntry.tag == "record:section:viewed",
        )
    ).all()


def test_a_refused_section_form_does_not_show_the_history_unaudited(client, db, keys):
    """Every own-staff read of a section is audited in the agency's log ("who saw what of
    ours"). Posting a section form with a bad value answered 400 with every stored version
    of the section opened beside the form, and wrote no read to the log: a way to read a
    survivor's medical history that the agency lead never sees."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed", "follow_up": SECRET_NOTE})
    make.login(client, w.owner_staff.username)
    url = f"/clients/{w.client.public_id}/sections/medical"
    token = make.csrf_of_page(client, url)
    before = len(_section_reads(db, w))  # the GET above read it, audited
    refused = client.post(url, data={"csrf_token": token, "exam_done": "telepathy"})
    assert refused.status_code == 400
    assert SECRET_NOTE in refused.text  # the history stays beside the form
    assert len(_section_reads(db, w)) == before + 1  # and its read is in the log


def test_editing_a_task_does_not_tell_a_partner_which_community_agencies_take_part(
    client, db, keys
):
    """The same through a task's edit form: R reassigning its own task to Clinic A was
    accepted (303) where an agency not on the case is refused (400)."""
    team = Team(db, keys)
    stranger = _bystander(db, keys)
    own = tasks.create_task(
        db,
        team.case,
        title="SYNTHETIC own task",
        assignee=f"agency:{team.r.public_id}",
        due_date=(TODAY + timedelta(days=7)).isoformat(),
        offered=None,
        actor=team.staff[team.r.id],
        at=make.AT,
        today=TODAY,
    )
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    url = f"/tasks/{own.public_id}"

    def edit(assignee: str) -> int:
        return client.post(
            url + "/edit",
            data={
                "csrf_token": make.csrf_of_page(client, url),
                "assignee": assignee,
                "due_date": (TODAY + timedelta(days=7)).isoformat(),
                "priority": "normal",
            },
        ).status_code

    not_on_case = edit(f"agency:{stranger.public_id}")
    on_case = edit(f"agency:{team.a.public_id}")
    assert not_on_case == 400
    assert on_case == not_on_case
