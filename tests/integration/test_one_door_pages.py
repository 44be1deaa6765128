"""Issue 14 through HTTP: on every page that shows MDT decisions or tasks, a partner whose
survivors' releases do not cover them sees placeholders and never their text, and the
owners' logs hold the refusals; once released, the same pages show the text."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal.models import AuditEntry
from portal.services import tasks

import factories as make
from team_helpers import DECISION_NOTE, TODAY, Team

TASK_TITLE = "SYNTHETIC-TASK-TITLE"
TASK_DETAILS = "SYNTHETIC-TASK-DETAILS"
COMMENT = "SYNTHETIC-TASK-COMMENT"
SECRETS = (DECISION_NOTE, TASK_TITLE, TASK_DETAILS, COMMENT)


def _team_with_records(db, keys):
    team = Team(db, keys)
    team.decision(db)
    writer = team.staff[team.a.id]
    task = tasks.create_task(
        db,
        team.case,
        title=TASK_TITLE,
        details=TASK_DETAILS,
        assignee=f"user:{team.staff[team.r.id].public_id}",
        due_date=(TODAY + timedelta(days=7)).isoformat(),
        actor=writer,
        at=make.AT,
        today=TODAY,
    )
    tasks.add_comment(db, task, COMMENT, actor=writer, at=make.AT)
    db.flush()
    return team, task


def _pages(team, task) -> list[str]:
    return [
        "/",
        "/tasks",
        "/tasks?scope=agency",
        f"/tasks/{task.public_id}",
        f"/cases/{team.case.public_id}",
        f"/cases/{team.case.public_id}/packet",
        f"/cases/{team.case.public_id}/summary",
        f"/meetings/{team.meeting.public_id}",
    ]


def _refusals(db, agency, section):
    return db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.tag == "disclosure:section:withheld",
            AuditEntry.section_key == section,
        )
    ).all()


def test_no_page_shows_a_partner_mdt_records_its_survivors_did_not_release(client, db, keys):
    team, task = _team_with_records(db, keys)
    make.login(client, team.staff[team.r.id].username)
    for path in _pages(team, task):
        page = client.get(path)
        assert page.status_code == 200, path
        for secret in SECRETS:
            assert secret not in page.text, (path, secret)
    task_page = client.get(f"/tasks/{task.public_id}").text
    assert f"A task from {team.a.name}" in task_page and "withheld" in task_page
    assert (TODAY + timedelta(days=7)).isoformat() in task_page  # still tracked
    assert "Decisions recorded by" in client.get(f"/cases/{team.case.public_id}").text
    # Each owner refused in its own log: the coordinator its decisions, A its task's text.
    assert _refusals(db, team.coordinator, "mdt_decisions")
    assert _refusals(db, team.a, "mdt_tasks")


def test_the_same_pages_show_the_records_once_every_survivor_released_them(client, db, keys):
    team, task = _team_with_records(db, keys)
    team.release(db, keys, team.a, [team.r])
    team.release(db, keys, team.b, [team.r])
    make.login(client, team.staff[team.r.id].username)
    assert TASK_TITLE in client.get("/tasks").text
    task_page = client.get(f"/tasks/{task.public_id}").text
    assert TASK_TITLE in task_page and TASK_DETAILS in task_page and COMMENT in task_page
    assert DECISION_NOTE in client.get(f"/cases/{team.case.public_id}").text
    assert DECISION_NOTE in client.get(f"/meetings/{team.meeting.public_id}").text
    received = db.exec(
        select(AuditEntry.section_key).where(
            AuditEntry.agency_id == team.r.id, AuditEntry.tag == "disclosure:section:received"
        )
    ).all()
    assert {"mdt_decisions", "mdt_tasks"} <= set(received)
