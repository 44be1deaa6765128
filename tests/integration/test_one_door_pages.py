"""Issue 14 through HTTP: on every page that shows MDT decisions or tasks, a partner whose
survivors' releases do not cover them sees placeholders and never their text, and the
owners' logs hold the refusals; once released, the same pages show the text."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal.models import AuditEntry
from portal.services import tasks

import factories as make
from team_helpers import DECISION_NOTE, TASK_TITLE, TODAY, Team

TASK_DETAILS = "SYNTHETIC-TASK-DETAILS"
COMMENT = "SYNTHETIC-TASK-COMMENT"
SECRETS = (DECISION_NOTE, TASK_TITLE, TASK_DETAILS, COMMENT)


def _team_with_records(db, keys):
    team = Team(db, keys)
    team.decision(db)
    task = team.task(db, details=TASK_DETAILS)
    tasks.add_comment(db, task, COMMENT, actor=team.staff[team.a.id], at=make.AT)
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


def _entries(db, agency, section, tag):
    return db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.tag == tag,
            AuditEntry.section_key == section,
        )
    ).all()


def _refusals(db, agency, section):
    return _entries(db, agency, section, "disclosure:section:withheld")


def test_no_page_shows_a_partner_mdt_records_its_survivors_did_not_release(client, db, keys):
    team, task = _team_with_records(db, keys)
    make.login(client, team.staff[team.r.id].username)
    for path in _pages(team, task):
        page = client.get(path)
        assert page.status_code == 200, path
        for secret in SECRETS:
            assert secret not in page.text, (path, secret)
    task_page = client.get(f"/tasks/{task.public_id}").text
    # R is not told that Clinic A takes part: its task is from another agency on the case.
    assert "A task from another agency on the case" in task_page and "withheld" in task_page
    assert team.a.name not in task_page
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


def _page(client, path):
    page = client.get(path)
    assert page.status_code == 200, path
    return page.text


def test_a_community_agency_taking_part_is_told_only_under_its_release(client, db, keys):
    """VAWA counts the fact of service as protected: a partner is not told that a
    community-based agency serves this survivor until that agency's point says so."""
    team = Team(db, keys)
    make.login(client, team.staff[team.r.id].username)
    case_page = _page(client, f"/cases/{team.case.public_id}")
    summary = _page(client, f"/cases/{team.case.public_id}/summary")
    for text in (case_page, summary):
        assert team.a.name not in text and team.b.name not in text
        assert "2 more agencies take part" in text
    assert (
        client.get(f"/cases/{team.case.public_id}/summary/owners/{team.a.public_id}").status_code
        == 404
    )
    # Each community agency's own log holds the refusal; R's receipts hold what it got.
    assert _refusals(db, team.a, "participation") and _refusals(db, team.b, "participation")

    team.release(db, keys, team.a, [team.r], sections=["participation"])
    case_page = _page(client, f"/cases/{team.case.public_id}")
    assert team.a.name in case_page and team.b.name not in case_page
    assert "1 more agency takes part" in case_page
    assert (
        client.get(f"/cases/{team.case.public_id}/summary/owners/{team.a.public_id}").status_code
        == 200
    )

    # The coordinator, whom every survivor's joining release names, is told of everyone.
    client.post("/logout", data={"csrf_token": make.csrf_of_page(client)})
    make.login(client, team.staff[team.coordinator.id].username)
    coordinating = _page(client, f"/cases/{team.case.public_id}")
    assert team.a.name in coordinating and team.b.name in coordinating
    assert "more agenc" not in coordinating


def test_a_lapsed_joining_release_keeps_the_link_but_tells_partners_nothing_more(
    client, db, keys, clock
):
    from portal.models import Role
    from portal.services import releases

    team = Team(db, keys)
    # A fourth agency joins through the page's path: under a release naming the coordinator
    # (and R, who may read its medical section and be told it takes part).
    clinic = make.agency(db, keys, name="Clinic D (synthetic)")
    staff = make.user(db, clinic, Role.CLINICIAN)
    survivor, joined, link = team.joined(db, keys, clinic, staff, [team.coordinator, team.r])
    assert link.release_ref == joined.public_id
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    assert clinic.name in _page(client, f"/cases/{team.case.public_id}")

    releases.revoke(db, joined, reason="synthetic", actor=staff, keys=keys, at=make.AT)
    db.flush()
    # The next request, a moment later: a revocation takes effect after every disclosure
    # already logged under its release (`audit.revoked`), here at the same instant.
    clock.advance(seconds=1)
    # From the next request on R is told nothing more of that client, not even that D
    # takes part; the link stays on record.
    assert clinic.name not in _page(client, f"/cases/{team.case.public_id}")
    db.refresh(link)
    assert link.confirmed_at is not None and link.client_id == survivor.id
    # The coordinator sees that the case needs a new release from that survivor.
    client.post("/logout", data={"csrf_token": make.csrf_of_page(client)})
    make.login(client, team.staff[team.coordinator.id].username)
    case_page = _page(client, f"/cases/{team.case.public_id}")
    assert "needs a new release" in case_page and clinic.name in case_page


def test_a_lapsed_system_agencys_sections_are_not_said_to_be_unlinked(client, db, keys, clock):
    """A system-based agency's taking part is not its own to keep: after its survivor's
    release to join was revoked, the case page still showed it 'link confirmed', and the
    summary said each of its sections was withheld as 'not linked to this case', the page
    contradicting itself. The gate's words are now true of every agency it answers for:
    'not shared on this case'. Found by this session's UX review."""
    from portal.models import AgencyKind, Role
    from portal.services import releases

    team = Team(db, keys)
    police = make.agency(db, keys, kind=AgencyKind.SYSTEM, name="Police E (synthetic)")
    staff = make.user(db, police, Role.INVESTIGATOR)
    _survivor, joined, _link = team.joined(db, keys, police, staff, [team.coordinator])
    releases.revoke(db, joined, reason="synthetic", actor=staff, keys=keys, at=make.AT)
    db.flush()
    # The next request, a moment later: a revocation takes effect after every disclosure
    # already logged under its release (`audit.revoked`), here its link's confirmation.
    clock.advance(seconds=1)
    make.login(client, team.staff[team.r.id].username)
    case_page = _page(client, f"/cases/{team.case.public_id}")
    assert police.name in case_page and "link confirmed" in case_page
    owner = f"/cases/{team.case.public_id}/summary/owners/{police.public_id}"
    block = _page(client, owner + "?purpose=mdt_case_review")
    assert "not linked" not in block
    assert "not shared on this case" in block


def _received(db, agency, section):
    return _entries(db, agency, section, "disclosure:section:received")


def test_a_task_list_shown_with_a_bad_filter_keeps_what_it_received(client, db, keys):
    """The list answers 400 beside the bad filter but still shows the viewer's tasks, with
    the owner's text: the viewer agency's receipt of that text must survive the 400."""
    team, _task = _team_with_records(db, keys)
    team.release(db, keys, team.a, [team.r])
    team.release(db, keys, team.b, [team.r])
    make.login(client, team.staff[team.r.id].username)
    page = client.get("/tasks", params={"due_from": "not-a-date"})
    assert page.status_code == 400 and TASK_TITLE in page.text
    assert _received(db, team.r, "mdt_tasks")


def test_a_task_page_names_no_community_agency_the_viewer_was_not_told_of(client, db, keys):
    """The assignee picker on a task's page offers, as the case page's does, only the
    agencies the viewer may be told take part: never a community-based agency (or its
    staff) whose point has not said so."""
    team = Team(db, keys)
    coordinator = team.staff[team.coordinator.id]
    task = team.task(db, writer=coordinator, assignee=f"user:{team.staff[team.r.id].public_id}")
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    case_page = _page(client, f"/cases/{team.case.public_id}")
    task_page = _page(client, f"/tasks/{task.public_id}")
    for agency in (team.a, team.b):
        for text in (case_page, task_page):
            assert agency.name not in text
            assert team.staff[agency.id].public_id not in text
    assert 'id="assignee"' in task_page and team.r.name in task_page


# A community-based agency's taking part, named on pages other than the summary: each names
# it only where the case page would (found by a review; each failed before on both databases).


def _told_nothing(client, team):
    """The case page itself says R is not told that A or B take part."""
    case_page = _page(client, f"/cases/{team.case.public_id}")
    assert "2 more agencies take part" in case_page


def test_a_meeting_page_names_no_community_agency_the_viewer_was_not_told_of(client, db, keys):
    team = Team(db, keys)
    team.decision(db)  # a meeting with the case on its agenda; every agency invited
    make.login(client, team.staff[team.r.id].username)
    _told_nothing(client, team)
    meeting_page = _page(client, f"/meetings/{team.meeting.public_id}")
    assert team.a.name not in meeting_page, "meeting page names Clinic A (community) to Unit R"
    assert team.b.name not in meeting_page, "meeting page names Shelter B (community) to Unit R"


def test_a_task_assigned_to_a_community_agency_does_not_name_it_to_a_partner(client, db, keys):
    team = Team(db, keys)
    coordinator = team.staff[team.coordinator.id]
    # The coordinator gives Shelter B a task.
    task = team.task(
        db, writer=coordinator, assignee=f"agency:{team.b.public_id}", title="SYNTHETIC-TASK"
    )
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    _told_nothing(client, team)
    leaks = [
        path
        for path in (
            f"/cases/{team.case.public_id}",
            f"/cases/{team.case.public_id}/packet",
            f"/tasks/{task.public_id}",
        )
        if team.b.name in _page(client, path)
    ]
    assert leaks == [], f"Shelter B named to Unit R on {leaks}"


def test_a_task_written_by_a_community_agency_does_not_name_it_to_a_partner(client, db, keys):
    team = Team(db, keys)
    task = team.task(db, title="SYNTHETIC-TASK")  # Clinic A asks Unit R
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    _told_nothing(client, team)
    leaks = [
        path
        for path in ("/", "/tasks", f"/tasks/{task.public_id}", f"/cases/{team.case.public_id}")
        if team.a.name in _page(client, path)
    ]
    assert leaks == [], f"Clinic A named to Unit R on {leaks}"


def test_a_task_with_an_assignee_the_editor_may_not_be_told_of_keeps_it_on_edit(client, db, keys):
    """The task page cannot name (nor offer by its id) an assignee the person editing may
    not be told takes part: its picker keeps it unchanged, and another edit keeps it."""
    team = Team(db, keys)
    task = team.task(db, writer=team.staff[team.r.id])  # Unit R's own task
    team.hand_task(db, task, team.b)  # to Shelter B's staff
    make.login(client, team.staff[team.r.id].username)
    page = _page(client, f"/tasks/{task.public_id}")
    assert team.b.public_id not in page and team.staff[team.b.id].public_id not in page
    assert '<option value="unchanged" selected>another agency on the case (unchanged)' in page
    later = (TODAY + timedelta(days=9)).isoformat()
    saved = client.post(
        f"/tasks/{task.public_id}/edit",
        data={
            "csrf_token": make.csrf_from(page),
            "assignee": "unchanged",
            "due_date": later,
            "priority": "normal",
        },
    )
    assert saved.status_code == 303
    db.refresh(task)
    assert task.assignee_user_id == team.staff[team.b.id].id and task.due_date.isoformat() == later


def test_a_task_page_names_no_commenter_or_assignee_of_an_agency_the_viewer_was_not_told_of(
    client, db, keys
):
    """The task's text released (its survivors' releases cover the MDT's tasks), but not
    that Clinic A and Shelter B take part: their staff's comments and changes are shown,
    not their names, nor B's staff's name in an assignee change."""
    team, task = _team_with_records(db, keys)  # Clinic A's task, for Unit R's staff
    team.release(db, keys, team.a, [team.r])
    team.release(db, keys, team.b, [team.r])
    shelter = team.staff[team.b.id]
    for agency, name in ((team.a, "Alex Clinic (synthetic)"), (team.b, "Sam Shelter (synthetic)")):
        team.staff[agency.id].display_name = name  # names of their own, to look for
        db.add(team.staff[agency.id])
    tasks.update_task(
        db,
        task,
        team.case,
        assignee=f"user:{shelter.public_id}",
        due_date=(TODAY + timedelta(days=7)).isoformat(),
        priority="normal",
        offered=None,
        actor=team.staff[team.coordinator.id],
        at=make.AT,
    )
    # Now that the task is B's to do, B's staff comment on it.
    tasks.add_comment(db, task, "SYNTHETIC-SHELTER-COMMENT", actor=shelter, at=make.AT)
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    page = _page(client, f"/tasks/{task.public_id}")
    assert COMMENT in page and "SYNTHETIC-SHELTER-COMMENT" in page  # the text, released
    for agency in (team.a, team.b):
        assert agency.name not in page
        assert team.staff[agency.id].display_name not in page, agency.name
    assert "someone at another agency on the case" in page
    assert "assignee: " in page and "another agency on the case" in page
    # Once B's point tells R it takes part, B's staff are named again.
    team.release(db, keys, team.b, [team.r], sections=["participation"])
    again = _page(client, f"/tasks/{task.public_id}")
    assert shelter.display_name in again and team.staff[team.a.id].display_name not in again


def test_a_list_of_withheld_tasks_says_why_once(client, db, keys):
    """Each withheld row says so; why is said once under the list, not on every row (the
    mentor's dashboard repeated the same sentence on each of eight tasks)."""
    team, task = _team_with_records(db, keys)
    team.task(db, title="SYNTHETIC-SECOND-TASK")
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    for path in ("/", "/tasks", f"/cases/{team.case.public_id}"):
        page = _page(client, path)
        assert page.count(", details withheld</span>") == 2, path
        assert page.count("Details withheld: ") == 1, path
    # A task's own page still says why beside it.
    assert "and are withheld: " in _page(client, f"/tasks/{task.public_id}")


def test_a_survivors_accounting_lists_the_coordinators_decisions_released_on_her_release(
    client, db, keys, settings
):
    """Clinic A's survivor asks who was shown things about her under the release she signed
    with A: the coordinator's decisions, which Unit R read on the case page under it."""
    from portal.models import Role

    team, _task = _team_with_records(db, keys)
    signed = team.release(db, keys, team.a, [team.r])
    team.release(db, keys, team.b, [team.r])
    lead = make.user(db, team.a, Role.AGENCY_LEAD)
    make.login(client, team.staff[team.r.id].username)
    assert DECISION_NOTE in client.get(f"/cases/{team.case.public_id}").text
    client.cookies.clear()
    make.login(client, lead.username)
    client_ref = team.clients[team.a.id].reference
    page = client.get("/audit/accounting", params={"client": client_ref})
    assert page.status_code == 200
    table = page.text.split("<tbody>")[1].split("</tbody>")[0]
    decisions = [row for row in table.split("<tr") if "MDT decisions" in row]
    assert len(decisions) == 1
    (row,) = decisions
    assert team.r.name in row and team.case.reference in row
    assert f"signed {signed.signed_at.astimezone(settings.tz):%Y-%m-%d}" in row
    for secret in SECRETS:
        assert secret not in page.text
    # The lead's log says whose record it was and that A's survivor's release was relied on.
    log = client.get("/audit", params={"section": "mdt_decisions"}).text
    assert f"{team.coordinator.name}'s record, released by it under our client's release" in log
    assert f"by {team.coordinator.name}, not by us" in log
