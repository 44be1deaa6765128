"""Screening, the risk screen and mandated reports as a person meets them: need to know on
the dashboard, a mandated report's read audited and its sections in words, a refused form
that says why. Each test failed before its fix (found by a review); synthetic data only."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal.models import AuditEntry, Discipline, Role
from portal.services import mandated_reports, policy, risk_screens, screenings
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import factories as make

NY = ZoneInfo("America/New_York")


def _screening_raw(at, **changes):
    raw = {
        "tool": "cse_it",
        "tool_version": "2.0",
        "screened_at": f"{(at - timedelta(hours=1)).astimezone(NY):%Y-%m-%dT%H:%M}",
        "trigger": "indicator",
        "band": "clear_concern",
        "age_group": "minor",
        "action": "mdt_referral",
        "notes": "Synthetic screening note.",
    }
    raw.update(changes)
    return raw


def _minor_screened(db, keys, clock, agency, staff, survivor, *, report_number=None):
    """A minor's finalised clear-concern screening (and, if numbered, a mandated report)."""
    given = screening_forms.read_screening(_screening_raw(clock()), tz=NY, now=clock())
    made = screenings.start(
        db, survivor, given=given, actor=staff, keys=keys, at=clock(), minors=MinorSigning()
    )
    screenings.finalise(db, made, actor=staff, keys=keys, tz=NY, window_hours=48, at=clock())
    if report_number:
        report = screening_forms.read_mandated_report(
            {
                "recipient": "law_enforcement",
                "made_at": f"{(clock() - timedelta(minutes=30)).astimezone(NY):%Y-%m-%dT%H:%M}",
                "made_by": staff.public_id,
                "report_number": report_number,
                "client_told": "yes",
            },
            reporters={staff.public_id},
            tz=NY,
            now=clock(),
        )
        mandated_reports.record_report(db, made, given=report, actor=staff, tz=NY, at=clock())
    db.flush()
    return made


def _row(page: str, heading: str) -> str:
    """The dashboard row (a <tr>) that starts with `heading`."""
    assert heading in page, f"no row {heading!r} on the page"
    return page.split(heading, 1)[1].split("</tr>", 1)[0]


# -- (b) screening: need to know on the coordinator's dashboard ----------------------------


def test_dashboard_keeps_a_minors_clear_concern_from_a_coordinator_the_policy_denies(
    client, db, keys, clock
):
    # The agency's lead keeps the screening from its own MDT coordinators (an own deny line,
    # the lead's to write). The coordinator's screening pages then say "withheld", and
    # "nothing of this client's screenings, not even whether any is recorded, is shown".
    # The dashboard's row "Minors with a clear concern and no MDT case" must not name the
    # client whose screening found a clear concern (the safety-plan row beside it is
    # already filtered so, by screening_panel._reviews_seen_by).
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    survivor = make.client_record(db, agency, keys, birth=date(2012, 3, 4))
    _minor_screened(db, keys, clock, agency, advocate, survivor)
    for section in ("screening", "mdt_referral"):
        policy.add_line(
            db,
            agency,
            kind="own",
            role="mdt_coordinator",
            section=section,
            purpose="*",
            effect="deny",
            actor=lead,
            at=clock(),
        )
    db.flush()
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    make.login(client, coordinator.username)
    withheld = client.get(f"/clients/{survivor.public_id}/screenings")
    assert "withheld" in withheld.text.lower() and "Synthetic screening note" not in withheld.text
    dashboard = client.get("/").text
    row = _row(dashboard, "Minors with a clear concern and no MDT case")
    assert survivor.reference not in row, (
        "the dashboard names a minor whose screening the policy keeps from this coordinator"
    )


# -- (b) mandated reports on the client's page: words, and an audited read ----------------


def test_client_page_names_the_sections_of_a_compelled_disclosure_in_words(client, db, keys, clock):
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=date(2012, 3, 4))
    _minor_screened(db, keys, clock, agency, advocate, survivor, report_number="LE-S11-0001")
    make.login(client, advocate.username)
    page = client.get(f"/clients/{survivor.public_id}").text
    assert "LE-S11-0001" in page  # the advocate may read it
    compelled = page.split('id="compelled-h"', 1)[1].split("</table>", 1)[0]
    assert "Trafficking screening" in compelled, (
        "the compelled disclosure's sections are shown as codes, not their titles"
    )


def test_reading_a_mandated_report_on_the_client_page_is_audited(client, db, keys, clock):
    # The client's page shows a mandated report's record (to whom, the report number, that
    # the screening was disclosed): its own code says it "tells what those sections hold",
    # and shows it only to a role the policy lets read the screening. Like every read of
    # survivor information by own staff, the read is in the agency's log.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=date(2012, 3, 4))
    _minor_screened(db, keys, clock, agency, advocate, survivor, report_number="LE-S11-0002")
    make.login(client, advocate.username)
    seen = {e.id for e in db.exec(select(AuditEntry).where(AuditEntry.agency_id == agency.id))}
    page = client.get(f"/clients/{survivor.public_id}")
    assert page.status_code == 200 and "LE-S11-0002" in page.text
    new = [
        e
        for e in db.exec(select(AuditEntry).where(AuditEntry.agency_id == agency.id))
        if e.id not in seen
    ]
    reads = [e for e in new if e.section_key == "screening" and e.decision == "released"]
    assert reads, (
        "the client page showed a mandated report (the screening disclosed) with no read "
        f"in the agency's log; it logged only: {sorted({e.section_key for e in new})}"
    )


# -- (b) the risk screen: a refused form says why ------------------------------------------


def test_a_household_member_with_an_unknown_relation_is_refused_in_words(client, db, keys, clock):
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=date(2012, 3, 4))
    _minor_screened(db, keys, clock, agency, advocate, survivor)
    screen = risk_screens.open_clock(db, survivor)
    make.login(client, advocate.username)
    url = f"/clients/{survivor.public_id}/risk-screens/{screen.public_id}"
    token = make.csrf_of_page(client, url)
    refused = client.post(
        url + "/people",
        data={"csrf_token": token, "relation": "not-a-relation", "label": "Child A (synthetic)"},
    )
    assert refused.status_code == 400
    assert risk_screens.persons(db, screen) == []
    assert "Choose" in refused.text.split("<h1>Risk screen</h1>", 1)[1], (
        "the 400 names no mistake: the relation's error is not shown on the page"
    )


def test_a_screening_cannot_put_a_client_on_the_other_age_groups_path(client, db, keys, clock):
    """Whether the client is a minor decides the screening's path: a minor's goes to the
    MDT with no choice asked, and takes mandated reports; an adult's waits for their own
    yes. The form took the age group as typed, so an adult (born 2000) was put on the
    minor's path without their choice, and a 14-year-old on the adult's, away from the
    coordinator and mandated reports. It is now the one the sealed birth date gives."""
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    adult = make.client_record(db, agency, keys, birth=date(2000, 5, 17))
    minor = make.client_record(db, agency, keys, birth=date(2012, 3, 4))
    make.login(client, advocate.username)
    for survivor, wrong in ((adult, "minor"), (minor, "adult")):
        base = f"/clients/{survivor.public_id}/screenings"
        token = make.csrf_of_page(client, base)
        answer = client.post(
            base, data={"csrf_token": token, **_screening_raw(clock(), age_group=wrong)}
        )
        assert answer.status_code == 400, answer.status_code
        assert "recorded birth date makes them" in answer.text
        assert screenings.for_client(db, survivor) == []
