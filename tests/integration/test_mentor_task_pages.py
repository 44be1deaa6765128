"""A mentor's follow-up into an MDT task over HTTP, and the caseload's open-task count."""

from datetime import date

from mentor_helpers import mentor_world
from sqlmodel import func, select

from portal.models.workflow import Task
from portal.services import mentoring
from portal.web import mentor_forms

import factories as make


def logged_entry(db, w):
    given = mentor_forms.read_accompaniment(
        {
            "occurred_on": "2026-11-01",
            "kind": "medical",
            "duration_minutes": "60",
            "place_type": "hospital_clinic",
            "outcome": "went_ahead",
            "follow_up_needed": "on",
            "follow_up": "Call the clinic about transport",
            "notes": "SYNTHETIC-NOTE",
        },
        today=date(2026, 11, 2),
    )
    entry = mentoring.log_accompaniment(db, w.case, given=given, actor=w.mentor, at=make.AT)
    db.flush()
    return entry


def count_tasks(db) -> int:
    return db.exec(select(func.count(Task.id))).one()


def test_mentor_makes_a_task_of_a_follow_up(client, db, keys):
    w = mentor_world(db, keys)
    entry = logged_entry(db, w)
    make.login(client, w.mentor.username)
    case_url = f"/mentor/cases/{w.case.public_id}"
    page = client.get(case_url)
    action = f"/mentor/accompaniments/{entry.public_id}/task"
    assert action in page.text and 'value="Call the clinic about transport"' in page.text
    token = make.csrf_from(page.text)
    bad = client.post(action, data={"csrf_token": token, "title": "Call", "due_date": "2026-10-01"})
    assert bad.status_code == 400 and "cannot be before the day" in bad.text
    assert 'value="Call"' in bad.text and count_tasks(db) == 0
    made = client.post(
        action, data={"csrf_token": token, "title": "Call the clinic", "due_date": "2026-11-09"}
    )
    assert made.status_code == 303 and made.headers["location"].endswith(
        f"#entry-{entry.public_id}"
    )
    task = db.exec(select(Task)).one()
    assert task.assignee_user_id == w.mentor.id
    page = client.get(case_url)
    assert f'href="/tasks/{task.public_id}"' in page.text and action not in page.text
    again = client.post(
        action, data={"csrf_token": token, "title": "Twice", "due_date": "2026-11-09"}
    )
    assert again.status_code == 409 and count_tasks(db) == 1
    task_page = client.get(f"/tasks/{task.public_id}")
    assert task_page.status_code == 200
    assert f"{case_url}#entry-{entry.public_id}" in task_page.text
    assert "SYNTHETIC-NOTE" not in task_page.text
    caseload = client.get("/mentor")
    assert (
        '<dd class="open-tasks"><a class="button secondary-link" href="/tasks">1 open task</a></dd>'
        in caseload.text
    )


def test_another_mentor_cannot_make_a_task_of_the_entry(client, db, keys):
    w = mentor_world(db, keys)
    entry = logged_entry(db, w)
    make.login(client, w.other_mentor.username)
    token = make.csrf_of_page(client, "/mentor")
    response = client.post(
        f"/mentor/accompaniments/{entry.public_id}/task",
        data={"csrf_token": token, "title": "x", "due_date": "2026-11-09"},
    )
    assert response.status_code == 404 and count_tasks(db) == 0
    assert 'class="open-tasks"' not in client.get("/mentor").text  # no cases, no counts


def test_the_case_page_shown_again_after_a_bad_form_keeps_the_reads_it_shows(client, db, keys):
    """The task's title comes from its owner's point (the program's own, audited); when
    the page is shown again beside a bad date (400), that read's entry must stay."""
    from portal.audit import AuditTag
    from portal.models import AuditEntry
    from portal.services import mentor_tasks

    w = mentor_world(db, keys)
    entry = logged_entry(db, w)
    mentor_tasks.task_from_follow_up(
        db,
        w.mentor,
        entry.public_id,
        title="SYNTHETIC-TASK-TITLE",
        due_date="2026-11-09",
        at=make.AT,
        today=date(2026, 11, 2),
    )
    db.flush()

    def reads() -> int:
        return db.exec(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.tag == AuditTag.DISCLOSURE_RELEASED.value,
                AuditEntry.section_key == "mdt_tasks",
                AuditEntry.actor_user_ref == w.mentor.public_id,
            )
        ).one()

    make.login(client, w.mentor.username)
    case_url = f"/mentor/cases/{w.case.public_id}"
    token = make.csrf_of_page(client, case_url)
    before = reads()
    bad = client.post(f"{case_url}/appointments", data={"csrf_token": token, "date": "someday"})
    assert bad.status_code == 400 and "SYNTHETIC-TASK-TITLE" in bad.text
    assert reads() == before + 1
