"""MDT tasks, the dashboard, case pages, history and packet, as a review found them.

Each test is named after a defect the review found and failed before it was fixed;
synthetic data only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from portal.errors import Forbidden
from portal.models import AuditEntry, Role
from portal.services import tasks

import factories as make
from team_helpers import TODAY, Team


def _task(db, team, *, writer, assignee, title="SYNTHETIC-TASK", days=7, **extra):
    made = tasks.create_task(
        db,
        team.case,
        title=title,
        assignee=assignee,
        due_date=(TODAY + timedelta(days=days)).isoformat(),
        offered=None,
        actor=writer,
        at=make.AT,
        today=TODAY,
        **extra,
    )
    db.flush()
    return made


def _logout(client):
    client.post("/logout", data={"csrf_token": make.csrf_of_page(client)})


# ---------------------------------------------------------------- who may change a task


def test_an_agency_that_neither_owns_nor_holds_a_task_can_cancel_it_unread(client, db, keys):
    """Clinic A writes a task for Unit R. Shelter B takes part in the case but neither
    wrote the task nor holds it, and A's point withholds its text from B: B cannot even
    read what the task is. B can still cancel it (and so take it off R's list)."""
    team = Team(db, keys)
    task = _task(
        db, team, writer=team.staff[team.a.id], assignee=f"user:{team.staff[team.r.id].public_id}"
    )
    make.login(client, team.staff[team.b.id].username)
    page = client.get(f"/tasks/{task.public_id}")
    assert page.status_code == 200 and "SYNTHETIC-TASK" not in page.text  # text withheld
    answer = client.post(
        f"/tasks/{task.public_id}/status",
        data={"csrf_token": make.csrf_from(page.text), "status": "cancelled"},
    )
    db.refresh(task)
    assert task.status != "cancelled", (
        f"Shelter B (not owner, not assignee, text withheld from it) cancelled Clinic A's task "
        f"for Unit R: answer {answer.status_code}"
    )


def test_an_agency_that_neither_owns_nor_holds_a_task_can_reassign_it_to_itself(client, db, keys):
    team = Team(db, keys)
    task = _task(
        db, team, writer=team.staff[team.a.id], assignee=f"user:{team.staff[team.r.id].public_id}"
    )
    make.login(client, team.staff[team.b.id].username)
    page = client.get(f"/tasks/{task.public_id}")
    client.post(
        f"/tasks/{task.public_id}/edit",
        data={
            "csrf_token": make.csrf_from(page.text),
            "assignee": f"user:{team.staff[team.b.id].public_id}",
            "due_date": (TODAY + timedelta(days=60)).isoformat(),
            "priority": "low",
        },
    )
    db.refresh(task)
    assert task.assignee_agency_id == team.r.id, (
        "Shelter B took Clinic A's task away from Unit R, moved it two months and lowered it"
    )


# ---------------------------------------------------------------- assignees


def test_a_task_can_be_assigned_to_the_administrator_who_can_never_see_it(client, db, keys):
    """The node's administrator reads no case and no task (TASK_READ excludes the role),
    yet the picker offers them and a task assigned to them is accepted: it then sits on
    nobody's list."""
    team = Team(db, keys)
    admin = make.user(db, team.r, Role.ADMINISTRATOR)
    admin.display_name = "Node Admin (synthetic)"
    db.add(admin)
    db.flush()
    make.login(client, team.staff[team.coordinator.id].username)
    page = client.get(f"/cases/{team.case.public_id}")
    offered = f"user:{admin.public_id}" in page.text
    answer = client.post(
        f"/cases/{team.case.public_id}/tasks",
        data={
            "csrf_token": make.csrf_from(page.text),
            "title": "SYNTHETIC task for the administrator",
            "assignee": f"user:{admin.public_id}",
            "due_date": (TODAY + timedelta(days=7)).isoformat(),
            "priority": "normal",
        },
    )
    assert not offered and answer.status_code == 400, (
        f"administrator offered as assignee: {offered}; task assigned to them: {answer.status_code}"
    )


# ---------------------------------------------------------------- stale edits


def test_a_stale_task_edit_silently_undoes_a_change_made_since(client, db, keys):
    """R's lead raises the priority to urgent; the coordinator, whose task page was opened
    before, moves the due date. The coordinator's form still carries 'normal': the urgent
    priority is silently put back, with no refusal and nothing to merge."""
    team = Team(db, keys)
    task = _task(
        db,
        team,
        writer=team.staff[team.coordinator.id],
        assignee=f"user:{team.staff[team.r.id].public_id}",
    )
    make.login(client, team.staff[team.coordinator.id].username)
    stale = client.get(f"/tasks/{task.public_id}").text
    # Meanwhile, someone else makes it urgent.
    tasks.update_task(
        db,
        task,
        team.case,
        assignee=f"user:{team.staff[team.r.id].public_id}",
        due_date=task.due_date.isoformat(),
        priority="urgent",
        offered=None,
        actor=team.staff[team.r.id],
        at=make.AT + timedelta(minutes=5),
    )
    db.flush()
    seen = re.search(r'name="seen" value="([^"]+)"', stale).group(1)
    answer = client.post(
        f"/tasks/{task.public_id}/edit",
        data={
            "seen": seen,  # what the stale page showed, as its form sends it
            "csrf_token": make.csrf_from(stale),
            "assignee": f"user:{team.staff[team.r.id].public_id}",
            "due_date": (TODAY + timedelta(days=3)).isoformat(),
            "priority": "normal",  # what the stale form carried
        },
    )
    db.refresh(task)
    assert task.priority == "urgent" or answer.status_code == 409, (
        f"stale form ({answer.status_code}) silently set priority back to {task.priority!r}"
    )


# ---------------------------------------------------------------- counts and words


def test_the_dashboard_says_ten_tasks_when_more_are_assigned(client, db, keys):
    team = Team(db, keys)
    me = team.staff[team.r.id]
    for n in range(13):
        _task(db, team, writer=me, assignee=f"user:{me.public_id}", title=f"SYNTHETIC-{n}")
    make.login(client, me.username)
    page = client.get("/").text
    count = re.search(r'My tasks <span class="count">([^<]*)</span>', page).group(1)
    assert count in ("13", "10+"), f"dashboard says 'My tasks {count}' of 13 assigned"


def test_a_tasks_history_shows_status_codes_not_words(client, db, keys):
    team = Team(db, keys)
    me = team.staff[team.r.id]
    task = _task(db, team, writer=me, assignee=f"user:{me.public_id}")
    tasks.change_status(db, task, "in_progress", actor=me, at=make.AT)
    db.flush()
    make.login(client, me.username)
    page = client.get(f"/tasks/{task.public_id}").text
    history = page[page.index('id="history-h"') :]
    assert "in_progress" not in history, "task history says 'status: open → in_progress'"


# ---------------------------------------------------------------- one door


def test_a_comment_by_another_agency_is_disclosed_without_its_point_or_log(client, db, keys):
    """Shelter B's staff commented on Clinic A's task for Unit R, and R then read B's words
    through A's point alone (B's log held nothing of it). An agency that neither set the
    task, holds it nor coordinates the case no longer writes into it; the form says that a
    comment becomes part of the task's record, which its owner's point discloses."""
    team = Team(db, keys)
    task = _task(
        db, team, writer=team.staff[team.a.id], assignee=f"user:{team.staff[team.r.id].public_id}"
    )
    with pytest.raises(Forbidden):
        tasks.add_comment(
            db, task, "SYNTHETIC-SHELTER-B-COMMENT", actor=team.staff[team.b.id], at=make.AT
        )
    make.login(client, team.staff[team.r.id].username)
    page = client.get(f"/tasks/{task.public_id}").text
    assert "becomes part of this task's record" in page


def test_a_partners_log_names_a_community_agency_that_commented_on_its_task(client, db, keys):
    """Unit R may not be told that Shelter B (community-based) takes part in the case: the
    case page says only "2 more agencies take part". When B's staff comment on (or change
    the status of) a task assigned to R, the entry goes to R's log with B as the actor,
    and R's lead reads B's name there: the fact of service told without B's point."""
    team = Team(db, keys)
    task = _task(
        db,
        team,
        writer=team.staff[team.coordinator.id],
        assignee=f"user:{team.staff[team.r.id].public_id}",
    )
    with pytest.raises(Forbidden):  # B neither set, holds nor coordinates it
        tasks.add_comment(db, task, "SYNTHETIC comment", actor=team.staff[team.b.id], at=make.AT)
    # The coordinator, who set it, comments: the entry goes to its own log, never to R's
    # with another agency named; and R's own change goes to R's and the owner's.
    tasks.add_comment(
        db, task, "SYNTHETIC comment", actor=team.staff[team.coordinator.id], at=make.AT
    )
    tasks.change_status(db, task, "in_progress", actor=team.staff[team.r.id], at=make.AT)
    db.flush()
    logged = db.exec(
        select(AuditEntry.agency_id).where(AuditEntry.tag == "mdt:task:commented")
    ).all()
    assert logged == [team.coordinator.id]
    lead = make.user(db, team.r, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    assert "2 more agencies take part" in client.get(f"/cases/{team.case.public_id}").text
    log = client.get("/audit")
    assert log.status_code == 200
    rows = [row for row in re.findall(r"<tr>.*?</tr>", log.text, re.S) if team.b.name in row]
    assert rows == [], (
        "Unit R's audit log names Shelter B (community-based) as commenting on and changing "
        "a task of a case R is not told B takes part in"
    )


def test_a_task_one_day_late_is_said_to_be_1_days_overdue(client, db, keys, clock):
    """Checked and fine: 'overdue' turns at midnight in the MDT's zone (22:30 in New York
    on the due day is not late; 00:30 the next day is). The words are wrong: '1 days'."""
    team = Team(db, keys)
    me = team.staff[team.r.id]
    _task(db, team, writer=me, assignee=f"user:{me.public_id}", days=0)
    clock.at = make.AT.replace(day=3, hour=3, minute=30)  # 22:30 on Nov 2 in New York
    make.login(client, me.username)
    assert "overdue)" not in client.get("/tasks").text
    clock.at = make.AT.replace(day=3, hour=5, minute=30)  # 00:30 on Nov 3 in New York
    make.login(client, me.username)
    said = {path: client.get(path).text for path in ("/", "/tasks")}
    assert all("(1 days overdue)" not in text for text in said.values()), (
        f"'1 days overdue' on {[p for p, t in said.items() if '(1 days overdue)' in t]}"
    )


def test_a_close_reason_reaches_every_partner_without_the_coordinators_point(client, db, keys):
    """The coordinator's reason for closing (free text it writes about the survivor) is
    shown on every partner's case page and packet. The same partner gets the coordinator's
    decisions only as its point releases them (here: withheld, no release); the reason goes
    round the door: no policy, no release, no entry in the coordinator's log."""
    from portal.services import casework

    team = Team(db, keys)
    team.decision(db)
    casework.close_case(
        db,
        team.case,
        reason="SYNTHETIC-CLOSE-REASON survivor moved to a relative out of state",
        actor=team.staff[team.coordinator.id],
        at=make.AT,
        today=make.AT.date(),
    )
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    case_page = client.get(f"/cases/{team.case.public_id}").text
    packet = client.get(f"/cases/{team.case.public_id}/packet").text
    assert "SYNTHETIC-DECISION-NOTE" not in case_page  # the decision: withheld
    shown = [
        name
        for name, text in (("case page", case_page), ("packet", packet))
        if "SYNTHETIC-CLOSE-REASON" in text
    ]
    assert shown == [], f"the coordinator's close reason shown to Unit R on the {shown}"
