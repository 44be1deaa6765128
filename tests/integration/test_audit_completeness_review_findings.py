"""Audit completeness, as a review found it: every read of survivor content is in the owning
agency's log with the facts a lead searches by (which case, which section), so that "who
saw what of ours" finds it. Each test is named after a defect the review found and failed
before it was fixed. Synthetic, obviously fictional data only."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import httpx2
import pytest
from disclosure_helpers import SECRET_NOTE, release, world, write
from mentor_helpers import as_coordinator, mentor_world
from sqlmodel import select
from starlette.testclient import TestClient
from test_federation_in_process import URLS
from test_meetings_review_findings import MINUTES, _coordinator_with_minutes
from test_workflow_pages import a_case, sign_in

from portal.app import create_app
from portal.disclosure import preview
from portal.models import AuditEntry, Role, StaffUser
from portal.services import mentor_assignments, mentoring

import factories as make
import federation_world as fw
from team_helpers import joining_release


def _lead(client, db, agency, username: str) -> TestClient:
    """A browser of its own, signed in as a lead of `agency`."""
    lead = make.user(db, agency, Role.AGENCY_LEAD, username=username)
    browser = TestClient(client.app, follow_redirects=False)
    browser.__enter__()
    make.login(browser, lead.username)
    return browser


def _results(html: str) -> str:
    """The rows of the log page's results table."""
    return html.split("<tbody>")[1].split("</tbody>")[0]


# 1. Reads of minutes are logged without their case ----------------------------------------


def test_the_coordinators_own_read_of_minutes_is_not_found_by_a_search_of_the_log_for_the_case(
    client, db, keys
):
    """A coordinator's staff member opens the meeting page and reads the minutes of a case.
    The read is in the coordinating agency's log (`meetings.read_minutes`), but written with
    no case (`own.record_reads` wrote case_ref None; the case went only into the subject):
    the lead's log shows the read with an empty Case column, and a search of the log for
    the case, which is how a lead answers "who read the minutes of MDT-...", leaves it out."""
    agency, _coordinator, case, meeting, _item = _coordinator_with_minutes(db, keys)
    reader, _token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    reader.display_name = "Synthetic Minutes Reader"
    db.add(reader)
    db.flush()
    page = client.get(f"/meetings/{meeting.public_id}")
    assert page.status_code == 200 and MINUTES in page.text
    reads = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.section_key == "mdt_minutes",
            AuditEntry.actor_user_ref == reader.public_id,
        )
    ).all()
    assert reads, "the minutes read left no entry at all"
    assert [e.case_ref for e in reads] == [case.reference], (
        f"the read of {case.reference}'s minutes is logged against case "
        f"{[e.case_ref for e in reads]}"
    )
    lead = _lead(client, db, agency, "synthetic.minutes.lead")
    found = lead.get(f"/audit?case_ref={case.reference}&section=mdt_minutes")
    assert found.status_code == 200
    assert reader.display_name in _results(found.text), (
        f"a search of the log for {case.reference}'s minutes does not show who read them"
    )


# 2. Reads of the mentor program's log: some not logged, none findable by case or section ---

FOLLOW_UP = "SYNTHETIC-FOLLOW-UP-CALL-AT-THE-SHELTER"


def _entry_by_first_mentor(db, w, *, notes=None):
    """The first mentor logs an accompaniment with a follow-up (and no notes, by default),
    then the case passes to the program's second mentor."""
    entry = mentoring.log_accompaniment(
        db,
        w.case,
        given=mentoring.AccompanimentInput(
            occurred_on=date(2026, 11, 1),
            kind="medical",
            duration_minutes=60,
            place_type="hospital_clinic",
            outcome="went_ahead",
            follow_up_needed=True,
            follow_up=FOLLOW_UP,
            notes=notes,
        ),
        actor=w.mentor,
        at=make.AT - timedelta(hours=2),
    )
    mentor_assignments.assign_mentor(
        db,
        w.case,
        mentor_public_id=w.other_mentor.public_id,
        reason="Synthetic: first mentor on leave",
        viewer=as_coordinator(w),
        at=make.AT,
    )
    db.flush()
    return entry


def _accompaniment_reads(db, w, reader) -> list[AuditEntry]:
    return db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.program.id,
            AuditEntry.actor_user_ref == reader.public_id,
            AuditEntry.tag == "mentoring:accompaniment:viewed",
        )
    ).all()


def test_a_colleagues_entry_without_notes_is_read_on_the_case_page_with_no_audit_entry(
    client, db, keys
):
    """The case page shows the second mentor every entry on the case: the first mentor's
    hospital visit, its outcome and the follow-up in the first mentor's words (what a
    partner receives only as the `mentor_accompaniment` section, through the program's
    point). Only an entry with notes was logged as read, so this one, which has none,
    left nothing in the program's log."""
    w = mentor_world(db, keys)
    _entry_by_first_mentor(db, w)
    make.login(client, w.other_mentor.username)
    page = client.get(f"/mentor/cases/{w.case.public_id}")
    assert page.status_code == 200 and FOLLOW_UP in page.text
    assert _accompaniment_reads(db, w, w.other_mentor), (
        "a colleague's accompaniment and follow-up were read with no audit entry"
    )


def test_the_program_page_lists_the_programs_accompaniments_with_no_audit_entry(client, db, keys):
    """The program lead's page lists the program's latest accompaniments, each by case:
    its day, kind (medical), kind of place, outcome and whether it needs a follow-up, the
    lines of the `mentor_accompaniment` section. Opening one entry is logged; the list,
    which shows the same of twenty entries, is not."""
    w = mentor_world(db, keys)
    _entry_by_first_mentor(db, w)
    lead = make.user(db, w.program, Role.AGENCY_LEAD, username="synthetic.program.lead")
    make.login(client, lead.username)
    for page in ("/mentoring/program", f"/mentoring/mentors/{w.mentor.public_id}"):
        before = len(_accompaniment_reads(db, w, lead))
        shown = client.get(page)
        assert shown.status_code == 200 and w.case.reference in shown.text
        assert "Medical" in shown.text or "medical" in shown.text
        assert len(_accompaniment_reads(db, w, lead)) > before, (
            f"{page} listed the program's accompaniments on {w.case.reference} with no audit entry"
        )


def test_a_read_of_the_programs_accompaniment_is_not_found_by_a_search_of_the_log_for_the_case(
    client, db, keys
):
    """The lead reads an entry (audited, `mentoring.read_program_entry`) and a mentor reads
    a colleague's notes on the case page (audited): both entries name the case only as
    their subject and no section, so the log shows them with an empty Case and Section,
    and a lead searching the log for the case, or for mentor accompaniment, finds neither."""
    w = mentor_world(db, keys)
    entry = _entry_by_first_mentor(db, w, notes="SYNTHETIC-NOTE")
    w.other_mentor.display_name = "Synthetic Second Mentor"
    db.add(w.other_mentor)
    db.flush()
    make.login(client, w.other_mentor.username)
    assert client.get(f"/mentor/cases/{w.case.public_id}").status_code == 200
    lead = _lead(client, db, w.program, "synthetic.search.lead")
    assert lead.get(f"/mentoring/accompaniments/{entry.public_id}").status_code == 200
    reads = [
        *_accompaniment_reads(db, w, w.other_mentor),
        *_accompaniment_reads(
            db,
            w,
            db.exec(select(StaffUser).where(StaffUser.username == "synthetic.search.lead")).one(),
        ),
    ]
    assert len(reads) >= 2
    assert {(e.case_ref, e.section_key) for e in reads} == {
        (w.case.reference, "mentor_accompaniment")
    }, [(e.case_ref, e.section_key) for e in reads]
    found = lead.get(f"/audit?case_ref={w.case.reference}&section=mentor_accompaniment")
    assert found.status_code == 200
    assert w.other_mentor.display_name in _results(found.text), (
        "a search of the log for the case's accompaniment does not show who read it"
    )


# 3. The accounting leaves out that the agency told the coordinator it serves the survivor -


def test_the_accounting_omits_the_coordinating_agency_told_that_the_agency_serves_the_client(
    client, db, keys
):
    """A shelter confirms its client's record on a case another agency coordinates, under
    the release the survivor signed naming that agency for MDT case review: the
    coordinating agency learns that the shelter serves this survivor (for a community-based
    agency the fact of service is itself protected) and links them to the case. The
    shelter's log keeps the confirmation, but not as a disclosure of the client (no client,
    section, purpose or release in its columns), so the survivor's accounting of
    disclosures says nothing about this client was released outside the agency."""
    coordinating = make.agency(db, keys, name="Coordinating CAC (synthetic)")
    shelter = make.agency(db, keys, name="Shelter S (synthetic)")
    survivor = make.client_record(db, shelter, keys)
    joined = joining_release(db, keys, shelter, survivor, coordinating)
    case = a_case(db, coordinating, [shelter])
    _staff, token = sign_in(client, db, shelter, Role.CASE_MANAGER)
    confirmed = client.post(
        f"/cases/{case.public_id}/link",
        data={"csrf_token": token, "client_reference": survivor.reference},
    )
    assert confirmed.status_code == 303
    told = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == shelter.id, AuditEntry.client_ref == survivor.public_id
        )
    ).all()
    assert [(e.case_ref, e.section_key, e.decision, e.release_ref) for e in told] == [
        (case.reference, "participation", "released", joined.public_id)
    ], "the shelter's log does not hold what it told the coordinating agency, under which release"
    lead = _lead(client, db, shelter, "synthetic.shelter.lead")
    page = lead.get(f"/audit/accounting?client={survivor.reference}")
    assert page.status_code == 200
    rows = _results(page.text)
    assert coordinating.name in rows and case.reference in rows, (
        f"the accounting of {survivor.reference} does not list that {coordinating.name} was "
        f"told on {case.reference} that {shelter.name} serves them: {rows.strip()[:200]}"
    )
    assert "Taking part in this case" in rows
    assert "told that we serve you" in rows and "signed " in rows, (
        "the row does not say the coordinating agency was told, under which release"
    )


@pytest.fixture
def nodes(tmp_path):
    """Three nodes in this process, the case opened on A and linked on B and C through the
    protocol (as in test_federation_in_process)."""
    a, b, c = fw.nodes(tmp_path, URLS)
    world = fw.prepare(a, b, c)
    apps = {node.name: create_app(node.settings()) for node in (a, b, c)}
    mounts = {
        URLS[1]: httpx2.ASGITransport(app=apps["b"]),
        URLS[2]: httpx2.ASGITransport(app=apps["c"]),
    }
    fw.link(world, mounts=mounts)
    world.apps = apps
    return world


def test_the_accounting_on_an_owners_node_omits_the_coordinator_elsewhere_told_it_serves_the_client(
    nodes,
):
    """The same through the protocol: the coordinating agency on node A asks the clinic on
    node B to confirm its client on the case (`POST /federation/v1/case-links`). The
    clinic's node confirms under the survivor's joining release and logs the confirmation,
    but not as a disclosure of the client, so the clinic's accounting for that survivor
    leaves out that the coordinating agency elsewhere was told the clinic serves them."""
    world = nodes
    confirmed = fw.entries(world.b, tag="mdt:case:link_confirmed", subject=world.case_ref)
    assert [(e.client_ref, e.section_key, e.decision) for e in confirmed] == [
        (world.clients[fw.CLINIC], "participation", "released")
    ]
    assert confirmed[0].release_ref is not None
    clinic_lead = TestClient(world.apps["b"], base_url=URLS[1], follow_redirects=False)
    with clinic_lead:
        fw.login(clinic_lead, "clinic.lead")
        page = clinic_lead.get(f"/audit/accounting?client={world.clients[fw.CLINIC]}")
    assert page.status_code == 200
    rows = _results(page.text)
    assert fw.CAC in rows and world.case_ref in rows and "told that we serve you" in rows, (
        f"the clinic's accounting does not list {fw.CAC} told on {world.case_ref}: "
        f"{rows.strip()[:200]}"
    )


# 4. A preview's entry says content was released to someone who was not shown it --------


def test_a_preview_logs_a_section_as_released_to_the_staff_member_its_policy_withheld_it_from(
    db, keys
):
    """An advocate of the clinic previews a release of medical notes to a partner's case
    manager. The partner would receive them, but the clinic's own policy keeps medical notes
    from its advocates, so the preview shows the advocate only the field names. The entry
    names the advocate as the person who looked (in their own role, under their own line),
    yet writes the section as released to them: a lead asking who saw the medical notes
    finds an advocate who never saw them."""
    w = world(db, keys)  # the owner is a health clinic
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    row = release(db, keys, w, ["medical"])
    decisions = preview(
        db,
        w.own_viewer(Role.ADVOCATE),
        row,
        w.partner,
        "case_manager",
        make.AT + timedelta(hours=1),
        tz=UTC,
        keys=keys,
    )
    medical = next(d for d in decisions if d.section.key == "medical")
    assert getattr(medical, "unseen", False)  # the recipient would get it; not shown here
    (entry,) = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id,
            AuditEntry.tag == "disclosure:preview:viewed",
            AuditEntry.section_key == "medical",
        )
    ).all()
    assert entry.actor_role == "advocate"
    assert (entry.decision, entry.gate) == ("withheld", "policy"), (
        f"the advocate was not shown the medical notes, but the log says they were "
        f"{entry.decision} to them (gate {entry.gate!r})"
    )
    assert '"for_recipient":"released"' in entry.detail  # what the preview was about stays
