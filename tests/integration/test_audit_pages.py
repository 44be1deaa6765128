"""The agency lead's audit pages: search, pages, CSV, accounting, checkpoints, and scoping."""

import csv
import io
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from page_text import page_text
from sqlmodel import select

from portal.audit import AuditTag, DisclosureFacts, record
from portal.models import AuditCheckpoint, AuditEntry, Role

import factories as make

AT = make.AT


def disclose(
    db,
    owner,
    viewer,
    client,
    *,
    section="safety_plan",
    decision="released",
    at=AT,
    case_ref="MDT-2026-0001",
    role="case_manager",
    tag=AuditTag.AUDIT_EXPORTED,
):
    record(
        db,
        tag,
        agency_id=owner.id,
        actor=viewer,
        subject=case_ref,
        at=at,
        disclosure=DisclosureFacts(
            case_ref=case_ref,
            client_ref=client.public_id,
            section_key=section,
            purpose="mdt_case_review",
            decision=decision,
            gate=None if decision == "released" else "no_consent",
            release_ref="33333333-3333-4333-8333-333333333333",
            policy_rule="p, system, case_manager, safety_plan, mdt_case_review, allow",
            viewer_role=role,
        ),
    )


@pytest.fixture
def mdt(db, keys):
    owner = make.agency(db, keys, name="Owner Advocacy (synthetic)")
    partner = make.agency(db, keys, name="Partner Welfare (synthetic)")
    lead = make.user(db, owner, Role.AGENCY_LEAD, username="owner.lead")
    colleague = make.user(db, owner, Role.ADVOCATE, username="owner.advocate")
    viewer = make.user(db, partner, Role.CASE_MANAGER, username="partner.cm")
    client = make.client_record(db, owner, keys)
    disclose(db, owner, viewer, client, at=AT + timedelta(days=1))
    disclose(
        db,
        owner,
        viewer,
        client,
        section="mental_health",
        decision="withheld",
        at=AT + timedelta(days=2),
    )
    disclose(db, owner, colleague, client, at=AT + timedelta(days=3), role="advocate")
    db.flush()
    return SimpleNamespace(
        owner=owner, partner=partner, lead=lead, viewer=viewer, colleague=colleague, client=client
    )


def rows_of(html):
    return html.count("<tr>") - 1  # the header row


def test_lead_searches_by_decision_section_user_agency_case_and_dates(client, db, mdt):
    make.login(client, mdt.lead.username)
    page = client.get("/audit")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "safety" in page.text.lower()
    released = client.get("/audit", params={"decision": "released"}).text
    assert '<span class="count">2</span>' in released
    withheld = client.get("/audit", params={"decision": "withheld", "section": "mental_health"})
    assert '<span class="count">1</span>' in withheld.text and "no consent" in withheld.text
    by_user = client.get("/audit", params={"user": "PARTNER.CM"}).text
    assert '<span class="count">2</span>' in by_user
    by_agency = client.get("/audit", params={"viewer_agency": mdt.partner.public_id}).text
    assert '<span class="count">2</span>' in by_agency
    by_case = client.get("/audit", params={"case_ref": "mdt-2026-0001"}).text
    assert '<span class="count">3</span>' in by_case
    day_two = client.get("/audit", params={"date_from": "2026-11-04", "date_to": "2026-11-04"})
    assert '<span class="count">1</span>' in day_two.text and "withheld" in day_two.text


def test_bad_filters_are_named_beside_their_fields_with_values_kept(client, db, mdt):
    make.login(client, mdt.lead.username)
    page = client.get(
        "/audit",
        params={"decision": "maybe", "date_from": "yesterday", "case_ref": "MDT-X", "date_to": ""},
    )
    assert page.status_code == 400
    assert "Choose a decision from the list." in page.text
    assert "From must be a date" in page.text
    assert 'value="MDT-X"' in page.text


def test_an_htmx_search_gets_only_the_results_block(client, db, mdt):
    make.login(client, mdt.lead.username)
    fragment = client.get("/audit", params={"decision": "released"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.headers["vary"] == "HX-Request"
    assert fragment.text.lstrip().startswith('<section id="results"')
    assert "<html" not in fragment.text


def test_an_htmx_search_with_bad_filters_loads_the_whole_page(client, db, mdt):
    make.login(client, mdt.lead.username)
    response = client.get("/audit", params={"decision": "maybe"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.headers["hx-redirect"] == "/audit?decision=maybe"


def test_another_agencys_log_changes_no_count_and_no_page(client, db, keys, mdt):
    make.login(client, mdt.lead.username)
    before = client.get("/audit", params={"decision": "released"}).text
    theirs = make.client_record(db, mdt.partner, keys)
    for n in range(60):
        disclose(db, mdt.partner, mdt.colleague, theirs, at=AT + timedelta(minutes=n))
    db.flush()
    after = client.get("/audit", params={"decision": "released"}).text
    assert '<span class="count">2</span>' in after
    assert before.count("<tr>") == after.count("<tr>")


def test_pages_are_counted_in_sql_and_linked_with_the_filters(client, db, mdt):
    for n in range(55):
        disclose(db, mdt.owner, mdt.viewer, mdt.client, at=AT + timedelta(days=5, minutes=n))
    db.flush()
    make.login(client, mdt.lead.username)
    first = client.get("/audit", params={"decision": "released"}).text
    assert '<span class="count">57</span>' in first and "Page 1 of 2" in first
    assert "decision=released&amp;page=2" in first
    second = client.get("/audit", params={"decision": "released", "page": "2"}).text
    assert "Page 2 of 2" in second and rows_of(second.split('class="audit"')[1]) == 7
    beyond = client.get("/audit", params={"decision": "released", "page": "99"}).text
    assert "Page 2 of 2" in beyond


def test_csv_export_streams_the_filtered_rows_and_is_audited(client, db, mdt):
    make.login(client, mdt.lead.username)
    response = client.get("/audit/export.csv", params={"decision": "released"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2 and {r["decision"] for r in rows} == {"released"}
    assert {r["user"] for r in rows} == {"partner.cm", "owner.advocate"}
    tz = client.app.state.settings.tz
    for row in rows:  # the MDT's time beside the hashed UTC text, its zone named
        at = datetime.fromisoformat(row["time_utc"]).astimezone(tz)
        assert row["time_local"] == at.strftime("%Y-%m-%d %H:%M:%S %Z")
        assert row["time_local"].endswith((" EST", " EDT"))
    exported = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == mdt.owner.id,
            AuditEntry.tag == AuditTag.AUDIT_EXPORTED.value,
            AuditEntry.actor_user_ref == mdt.lead.public_id,
        )
    ).all()
    assert len(exported) == 1 and "released" in exported[0].detail


def test_csv_export_reads_in_batches_and_loses_no_row(client, db, mdt):
    from portal.web import audit_pages

    for n in range(7):
        disclose(db, mdt.owner, mdt.viewer, mdt.client, at=AT + timedelta(days=9, minutes=n))
    db.flush()
    make.login(client, mdt.lead.username)
    whole = list(csv.DictReader(io.StringIO(client.get("/audit/export.csv").text)))
    statement = audit_pages.audit_log._rows_statement(
        mdt.owner, audit_pages.audit_log.AuditFilters(), client.app.state.settings.tz
    )
    chunks = list(
        audit_pages._csv_stream(
            client.app.state.open_session, statement, tz=client.app.state.settings.tz, batch=3
        )
    )
    batched = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert len(chunks) > 3 and batched == whole
    seqs = [int(r["seq"]) for r in whole]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)


def test_csv_cells_never_start_a_formula(db, mdt):
    from portal.services.csv_cells import safe_cell

    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("MDT-2026-0001") == "MDT-2026-0001"
    assert safe_cell(None) == ""


def test_accounting_lists_only_releases_to_outside_agencies(client, db, mdt):
    make.login(client, mdt.lead.username)
    for reference in (mdt.client.reference, mdt.client.public_id):
        page = client.get("/audit/accounting", params={"client": reference})
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        table = page.text.split("<tbody>")[1].split("</tbody>")[0]
        assert table.count("<tr>") == 1  # released to the partner; not withheld, not own staff
        assert mdt.partner.name in table and "Safety plan" in table
        assert 'href="/static/print.css" media="print"' in page.text


def test_accounting_is_404_for_someone_elses_client_or_none(client, db, keys, mdt):
    theirs = make.client_record(db, mdt.partner, keys)
    make.login(client, mdt.lead.username)
    for reference in (theirs.reference, theirs.public_id, "nobody", ""):
        assert client.get("/audit/accounting", params={"client": reference}).status_code == 404
    # no dead end: the form again, the reference kept, the same words for theirs and nobody's
    for reference in (theirs.reference, "MDT-TYPO"):
        again = client.get("/audit/accounting", params={"client": reference})
        assert f'value="{reference}"' in again.text and 'aria-invalid="true"' in again.text
        assert "No client of your agency has that reference" in again.text


def test_the_partner_lead_cannot_see_the_owners_accounting(client, db, mdt):
    partner_lead = make.user(db, mdt.partner, Role.AGENCY_LEAD)
    make.login(client, partner_lead.username)
    response = client.get("/audit/accounting", params={"client": mdt.client.public_id})
    assert response.status_code == 404
    assert "owner.advocate" not in client.get("/audit").text


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.ADVOCATE, Role.MDT_COORDINATOR])
def test_only_the_agency_lead_reads_the_log(client, db, mdt, role):
    someone = make.user(db, mdt.owner, role)
    make.login(client, someone.username)
    for path in ("/audit", "/audit/export.csv", f"/audit/accounting?client={mdt.client.reference}"):
        assert client.get(path).status_code == 403
    assert 'href="/audit"' not in client.get("/account").text


def test_the_lead_signs_a_checkpoint_from_the_page(client, db, mdt):
    make.login(client, mdt.lead.username)
    # The token the checkpoint form itself carries (the page works without JavaScript).
    form = client.get("/audit").text.split('action="/audit/checkpoint"')[1].split("</form>")[0]
    token = make.csrf_from(form)
    assert client.post("/audit/checkpoint", data={}).status_code == 403  # no CSRF token
    response = client.post("/audit/checkpoint", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/audit"
    checkpoint = db.exec(
        select(AuditCheckpoint).where(AuditCheckpoint.agency_id == mdt.owner.id)
    ).one()
    page = client.get("/audit").text
    assert f"signed up to entry {checkpoint.seq}" in page
    assert f"Last signed checkpoint: entry {checkpoint.seq}" in page


def test_the_lead_cannot_sign_a_checkpoint_over_an_edited_log(client, db, mdt):
    # Before: signed, and the signature vouched for the edited log.
    make.login(client, mdt.lead.username)
    form = client.get("/audit").text.split('action="/audit/checkpoint"')[1].split("</form>")[0]
    last = db.exec(
        select(AuditEntry)
        .where(AuditEntry.agency_id == mdt.owner.id)
        .order_by(AuditEntry.seq.desc())
    ).first()
    last.detail = '{"edited": true}'
    db.flush()
    response = client.post("/audit/checkpoint", data={"csrf_token": make.csrf_from(form)})
    assert response.status_code == 409 and "no checkpoint was signed" in page_text(response.text)
    assert (
        db.exec(select(AuditCheckpoint).where(AuditCheckpoint.agency_id == mdt.owner.id)).first()
        is None
    )


def test_one_request_is_one_row_and_is_never_split_between_pages(client, db, mdt):
    """Issue 17 (10): a request's sections (written at one instant) are one row that opens
    to them; when its entries straddle a page's end, the page reads on to finish it and the
    next page leaves it out, saying so."""
    view_at = AT + timedelta(days=4)
    sections = ("identity", "safety_plan", "needs_assessment", "care_plan", "medical")
    for section in sections * 2:  # ten sections of one page view (keys may repeat here)
        disclose(
            db,
            mdt.owner,
            mdt.viewer,
            mdt.client,
            section=section,
            at=view_at,
            tag=AuditTag.DISCLOSURE_RELEASED,
        )
    for n in range(45):  # newer, one at a time
        disclose(db, mdt.owner, mdt.viewer, mdt.client, at=AT + timedelta(days=5, minutes=n))
    db.flush()
    make.login(client, mdt.lead.username)
    first = client.get("/audit", params={"decision": "released"}).text
    assert '<span class="count">57</span>' in first and "Page 1 of 2" in first
    table = first.split('class="audit"')[1]
    # 45 single rows and the view's one row, which holds all ten of its sections, though
    # only five of them fall in the first fifty entries.
    assert rows_of(table) == 45 and table.count('<tr class="request">') == 1
    assert "10 sections" in table and "page view: sections decided" in table
    assert "<details><summary>10 sections</summary>" in table  # opens without JavaScript
    assert "10 released · 0 withheld" in table
    second = client.get("/audit", params={"decision": "released", "page": "2"}).text
    rest = second.split('class="audit"')[1]
    assert 'class="request"' not in rest and rows_of(rest) == 2  # the fixture's two
    assert "5 entries) belongs to a request shown in full on an earlier page" in second


def test_the_leads_dashboard_counts_what_each_partner_asked_this_week(client, db, clock, mdt):
    """Entries name their viewer's agency by public id (format 2): the week's figures count
    each partner's sections from it. Counted by the old id column, they were always empty
    and the dashboard said that no partner had asked for anything."""
    clock.advance(days=3)
    make.login(client, mdt.lead.username)
    page = client.get("/").text
    assert "No partner asked for anything" not in page
    row = page.split('<th scope="row">Partner Welfare (synthetic)</th>', 1)[1].split("</tr>")[0]
    assert row == "<td>1</td><td>1</td>"  # one released, one withheld; the colleague not
    assert "Owner Advocacy (synthetic)</th>" not in page
