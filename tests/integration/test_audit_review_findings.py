"""Who saw what of ours, as a review found it: the accounting of disclosures, the CSV
export, the log's words and searches, and `portal audit checkpoint` and `verify` on a node
whose roster names agencies elsewhere. Each test is named after a defect the review found
and failed before it was fixed."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta

from disclosure_helpers import SECRET_NOTE, release, world, write
from page_text import page_text
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from portal.audit import AuditTag, DisclosureFacts, record
from portal.models import AuditCheckpoint, AuditEntry, Role
from portal.services import tasks

import factories as make
from team_helpers import TODAY, Team


def _lead(client, db, agency) -> TestClient:
    """A browser of its own, signed in as a lead of `agency`."""
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    browser = TestClient(client.app, follow_redirects=False)
    browser.__enter__()
    make.login(browser, lead.username)
    return browser


def _accounting_table(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0]


def _viewed_summary(client, db, keys, clock):
    """A partner's case manager reads a case summary: the owner releases medical and
    identity, withholds the rest."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical", "identity"])
    clock.advance(hours=1)
    viewer = make.user(db, w.partner, Role.CASE_MANAGER)
    make.login(client, viewer.username)
    assert client.get(f"/cases/{w.case.public_id}/summary").status_code == 200
    return w


# 1. The accounting misses disclosures -------------------------------------------------


def test_accounting_omits_mdt_task_text_released_to_a_partner_under_the_clients_release(
    client, db, keys
):
    """Clinic A's task on the case (its text is survivor information, a `mdt_tasks`
    section) is released to Unit R under the release Clinic A's client signed naming Unit R
    for `mdt_tasks`. Clinic A's log holds the release to Unit R, yet the client's accounting
    of disclosures says nothing was released: the point writes case-scope entries with
    client_ref=None and the accounting selects by client_ref."""
    team = Team(db, keys)
    task = tasks.create_task(
        db,
        team.case,
        title="SYNTHETIC-TASK-TITLE",
        assignee=f"user:{team.staff[team.r.id].public_id}",
        due_date=(TODAY + timedelta(days=7)).isoformat(),
        offered=None,
        actor=team.staff[team.a.id],
        at=make.AT,
        today=TODAY,
        details="SYNTHETIC-TASK-DETAILS",
    )
    team.release(db, keys, team.a, [team.r])  # mdt_decisions, mdt_tasks to Unit R
    team.release(db, keys, team.b, [team.r])
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    page = client.get(f"/tasks/{task.public_id}").text
    assert "SYNTHETIC-TASK-DETAILS" in page  # Unit R read Clinic A's task text
    released = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == team.a.id,
            AuditEntry.section_key == "mdt_tasks",
            AuditEntry.decision == "released",
            AuditEntry.actor_agency_ref == team.r.public_id,
        )
    ).all()
    assert released  # the disclosure is in Clinic A's log

    browser = _lead(client, db, team.a)
    accounting = browser.get(
        "/audit/accounting", params={"client": team.clients[team.a.id].reference}
    )
    assert accounting.status_code == 200
    table = _accounting_table(accounting.text)
    assert "MDT tasks" in table and team.r.name in table, (
        f"Clinic A released its task text to {team.r.name} {len(released)} time(s) under its "
        "client's release (client_ref on the entries: "
        f"{sorted({str(e.client_ref) for e in released})}), but the client's accounting "
        "lists no such disclosure"
    )


def test_an_mdt_task_release_is_logged_under_another_agencys_release_not_the_owners(
    client, db, keys
):
    """Shelter B's task text reaches Unit R only because both survivors on the case (Clinic
    A's and Shelter B's) signed releases naming Unit R. Shelter B's log entry names one
    release: the first found by agency id, Clinic A's. So B's lead reads that B disclosed
    under a release B does not hold (an id it cannot open), and B's own survivor's
    release, relied on just as much, is named nowhere in the entry."""
    team = Team(db, keys)
    task = tasks.create_task(
        db,
        team.case,
        title="SYNTHETIC-TASK-TITLE-B",
        assignee=f"user:{team.staff[team.r.id].public_id}",
        due_date=(TODAY + timedelta(days=7)).isoformat(),
        offered=None,
        actor=team.staff[team.b.id],
        at=make.AT,
        today=TODAY,
    )
    a_release = team.release(db, keys, team.a, [team.r])
    b_release = team.release(db, keys, team.b, [team.r])
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    assert "SYNTHETIC-TASK-TITLE-B" in client.get(f"/tasks/{task.public_id}").text
    entry = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == team.b.id,
            AuditEntry.section_key == "mdt_tasks",
            AuditEntry.decision == "released",
            AuditEntry.actor_agency_ref == team.r.public_id,
        )
    ).first()
    assert entry is not None
    named = f"{entry.release_ref} {entry.detail}"
    assert b_release.public_id in named, (
        f"Shelter B's log says it released its task under {entry.release_ref} "
        f"({'Clinic A' if entry.release_ref == a_release.public_id else 'unknown'}'s "
        f"release); its own survivor's release {b_release.public_id} is not named"
    )


def test_the_log_calls_a_task_list_view_a_case_summary_view(client, db, keys):
    """Unit R opens its task list; Clinic A's point decides A's two tasks on the case for
    it. Clinic A's lead reads that one request as "case summary view: sections decided,
    N sections" (`audit_words.request_words` calls every grouped view with a case
    reference a case summary view): Unit R never opened the case summary."""
    team = Team(db, keys)
    for title in ("SYNTHETIC-TASK-ONE", "SYNTHETIC-TASK-TWO"):
        tasks.create_task(
            db,
            team.case,
            title=title,
            assignee=f"user:{team.staff[team.r.id].public_id}",
            due_date=(TODAY + timedelta(days=7)).isoformat(),
            offered=None,
            actor=team.staff[team.a.id],
            at=make.AT,
            today=TODAY,
        )
    team.release(db, keys, team.a, [team.r])
    team.release(db, keys, team.b, [team.r])
    db.flush()
    make.login(client, team.staff[team.r.id].username)
    listed = client.get("/tasks").text
    assert "SYNTHETIC-TASK-ONE" in listed and "SYNTHETIC-TASK-TWO" in listed
    summary_entries = db.exec(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.agency_id == team.a.id,
            AuditEntry.actor_agency_ref == team.r.public_id,
            AuditEntry.section_key.not_in(["mdt_tasks", "participation"]),
        )
    ).one()
    assert summary_entries == 0  # nothing but the tasks (and A's taking part) was asked
    browser = _lead(client, db, team.a)
    table = browser.get("/audit").text.split('class="audit"')[1]
    rows = [row for row in table.split("<tr")[2:] if "MDT tasks" in row]
    assert rows
    event = '<td data-label="Event">'
    assert not [row for row in rows if "case summary view" in row], (
        "Clinic A's log shows Unit R's task list as "
        f"{[r.split(event)[1].split('</td>')[0] for r in rows]}"
    )


# 2. The printed accounting --------------------------------------------------------------


def test_printed_accounting_gives_times_without_naming_the_time_zone(client, db, keys, clock):
    """The accounting is printed and handed to the survivor. Its times are in the MDT's
    zone but the printed document never says which: the only place naming the zone is the
    page footer, which print.css hides (`.bottom { display:none }`)."""
    w = _viewed_summary(client, db, keys, clock)
    browser = _lead(client, db, w.owner)
    page = browser.get("/audit/accounting", params={"client": w.client.reference}).text
    article = page.split('<article class="accounting"')[1].split("</article>")[0]
    tz = client.app.state.settings.tz
    abbreviation = clock().astimezone(tz).strftime("%Z")  # EST
    zone = client.app.state.settings.mdt_timezone.replace("_", " ")
    cell = '<td data-label="Date and time">'
    when = article.split(cell, 1)[1].split("</td>", 1)[0]
    assert page_text(when).startswith("2026-11-02 1")  # the disclosure's time is there
    assert abbreviation in article or zone in article or "UTC" in article, (
        "the printed accounting gives times like "
        f"{article.split(cell)[1].split('</td>')[0]!r} and never names the time zone "
        f"({zone}, {abbreviation}); the footer that does is not printed"
    )


def test_accounting_names_the_recipients_role_by_its_code_not_its_words(client, db, keys):
    """A role in the accounting is the code with '_' replaced ("mdt coordinator"), not the
    role's words ("MDT coordinator"), and in a Spanish accounting it stays English."""
    owner = make.agency(db, keys, name="Role Words Owner (synthetic)")
    partner = make.agency(db, keys, name="Role Words Partner (synthetic)")
    coordinator = make.user(db, partner, Role.MDT_COORDINATOR)
    survivor = make.client_record(db, owner, keys)
    record(
        db,
        AuditTag.DISCLOSURE_RELEASED,
        agency_id=owner.id,
        actor=coordinator,
        subject="MDT-2026-0001",
        at=make.AT,
        disclosure=DisclosureFacts(
            case_ref="MDT-2026-0001",
            client_ref=survivor.public_id,
            section_key="safety_plan",
            purpose="mdt_case_review",
            decision="released",
            release_ref="33333333-3333-4333-8333-333333333333",
            policy_rule="p, *, *, mdt_coordinator, safety_plan, mdt_case_review, allow",
            viewer_role="mdt_coordinator",
        ),
    )
    db.flush()
    browser = _lead(client, db, owner)
    table = _accounting_table(
        browser.get("/audit/accounting", params={"client": survivor.reference}).text
    )
    assert Role.MDT_COORDINATOR.label in table, (
        f"the recipient's role reads {table.split('Test Person')[1].split('</td>')[0]!r}, "
        f"not {Role.MDT_COORDINATOR.label!r}"
    )


# 3. The CSV export reads in codes -------------------------------------------------------


def test_csv_export_gives_event_role_purpose_gate_and_section_as_codes(client, db, keys, clock):
    """The log page reads "section withheld from a viewer", "case manager", "MDT case
    review", "no current release"; the CSV the lead opens in a spreadsheet gives
    `disclosure:section:withheld`, `case_manager`, `mdt_case_review`, `no_consent` and the
    section key."""
    w = _viewed_summary(client, db, keys, clock)
    browser = _lead(client, db, w.owner)
    rows = list(csv.DictReader(io.StringIO(browser.get("/audit/export.csv").text)))
    withheld = [r for r in rows if r["decision"] == "withheld"]
    assert withheld
    codes = sorted(
        {
            value
            for row in withheld
            for value in (row["event"], row["role"], row["purpose"], row["gate"], row["section"])
            if "_" in value or ":" in value
        }
    )
    assert not codes, f"the CSV gives codes where the page gives words: {codes}"


# 4. Reading the log is not audited -----------------------------------------------------


def test_searching_the_log_for_a_case_leaves_no_entry_though_exporting_it_does(
    client, db, keys, clock
):
    """The search page shows, for a case, which sections of which survivors' records were
    released or withheld to whom. Exporting those very rows is audited
    (`audit:log:exported`, with the filters); reading them page by page on screen leaves
    no trace at all."""
    w = _viewed_summary(client, db, keys, clock)
    browser = _lead(client, db, w.owner)
    count = select(func.count(AuditEntry.id)).where(AuditEntry.agency_id == w.owner.id)
    before = db.exec(count).one()
    page = browser.get("/audit", params={"case_ref": w.case.reference})
    assert page.status_code == 200 and "Medical" in page.text  # what was released, on screen
    after_search = db.exec(count).one()
    browser.get("/audit/export.csv", params={"case_ref": w.case.reference})
    after_export = db.exec(count).one()
    assert after_export == after_search + 1  # the export is in the log
    assert after_search > before, (
        f"a search of {w.case.reference} showed its disclosures on screen and left no entry "
        "in the log; the CSV of the same rows left one"
    )


# 5. `portal audit checkpoint` on a federated node ---------------------------------------


def test_checkpoint_of_every_log_crashes_once_the_roster_names_an_agency_elsewhere(
    tmp_path, monkeypatch, capsys
):
    """`portal audit checkpoint` (every agency) walks every Agency row, those the roster
    imported for other nodes too: it prints "signed <local agency> at entry N", then dies on
    the remote agency with "unexpected LookupError: agency 2 has no signing key ... report
    it", exit 1, and the checkpoint it said it signed is rolled back. The one-agency form
    refuses a remote agency with a clear line; the every-agency form should skip them."""
    from portal import migrate
    from portal.cli import main as cli
    from portal.cli.database import node_settings
    from portal.crypto import KeyWrapper
    from portal.db import make_engine
    from portal.federation import membership
    from portal.models import Agency

    from federation_helpers import elsewhere

    path = tmp_path / "node.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal.jsonl"))
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    name = "Alder CAC (synthetic)"
    created = ["agency", "create", "--name", name, "--kind", "community"]
    assert cli.main([*created, "--discipline", "advocacy"]) == 0
    keys = KeyWrapper(node_settings(engine).secrets.kek_bytes())
    far = elsewhere("Far Welfare (synthetic)", node="http://127.0.0.1:9109")
    with Session(engine) as db:
        cac = db.exec(select(Agency)).one()
        membership.sign_roster(
            db,
            cac,
            membership.entries_json([far.member]),
            node="http://127.0.0.1:9108",
            keys=keys,
            at=datetime.now(UTC),
        )
        db.commit()
    capsys.readouterr()
    code = cli.main(["audit", "checkpoint"])
    out = capsys.readouterr()
    with Session(engine) as db:
        kept = db.exec(select(func.count(AuditCheckpoint.id))).one()
    assert code == 0 and "unexpected" not in out.err and kept == 1, (
        f"exit {code}; printed {out.out.strip()!r} and {out.err.strip()!r}; "
        f"{kept} checkpoint(s) kept"
    )
    # The agency elsewhere keeps its log on its own node: no alarm that this one lacks it.
    verified = cli.main(["audit", "verify"])
    out = capsys.readouterr()
    engine.dispose()
    assert verified == 0 and "Far Welfare" not in out.out, out.out


# 4. What reaches another agency with no entry in its owner's log -----------------------


def test_a_task_page_hides_an_untold_assignee_but_its_edit_form_carries_a_hash_of_it(
    client, db, keys
):
    """Unit R wrote a task; the coordinator hands it to Shelter B's staff. Shelter B is
    community-based and has not told Unit R it takes part, so the page names the assignee
    "another agency on the case". But the edit form's hidden `seen` was a bare hash of the
    assignee's internal ids with the due date and priority the page shows: a few thousand
    guesses of small integers give Shelter B's ids back, the fact of service reaching Unit R
    with no entry in Shelter B's log."""
    team = Team(db, keys)
    task = team.task(db, writer=team.staff[team.r.id])
    team.hand_task(db, task, team.b)
    make.login(client, team.staff[team.r.id].username)
    page = client.get(f"/tasks/{task.public_id}").text
    assert "another agency on the case (unchanged)" in page
    # What anyone reading the page can compute for each agency and person they guess.
    guessed = hashlib.sha256(
        f"{team.b.id}|{team.staff[team.b.id].id}|{task.due_date}|normal".encode()
    ).hexdigest()[:24]
    assert guessed not in page
    # The form still saves, and still refuses a save over a change made since it was shown.
    later = (TODAY + timedelta(days=9)).isoformat()
    seen = page.split('name="seen" value="')[1].split('"')[0]
    form = {
        "csrf_token": make.csrf_from(page),
        "seen": seen,
        "assignee": "unchanged",
        "priority": "normal",
    }
    assert (
        client.post(f"/tasks/{task.public_id}/edit", data={**form, "due_date": later}).status_code
        == 303
    )
    db.refresh(task)
    assert task.assignee_user_id == team.staff[team.b.id].id and task.due_date.isoformat() == later
    stale = client.post(
        f"/tasks/{task.public_id}/edit",
        data={**form, "due_date": (TODAY + timedelta(days=10)).isoformat()},
    )
    assert stale.status_code == 409 and "Someone changed this task" in stale.text
