"""Referrals, client records, restricted persons, section versions and compelled
disclosures, as a review found them: each test is named after a defect the review found
and failed before it was fixed. Synthetic data only."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from referral_helpers import AT, NY, Mdt
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import AuditEntry, CaseLink, Client, MdtCase, Role, SectionEntry
from portal.services import screenings
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import factories as make
from databases import migrated_engine


@pytest.fixture
def mdt(db, keys):
    return Mdt(db, keys)


@pytest.fixture
def browser(settings, engine, connection, mdt):
    """The node's settings name the coordinating agency (no roster on this node)."""
    app = create_app(
        replace(settings, coordinating_agency=mdt.cac.name), engine=engine, bind=connection
    )
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def _screen_minor(mdt, client, staff):
    """A finalised screening with a clear concern for an existing client (as Mdt.minor)."""
    raw = {
        "tool": "cse_it",
        "tool_version": "2.0",
        "screened_at": f"{(AT - timedelta(days=2)).astimezone(NY):%Y-%m-%dT%H:%M}",
        "trigger": "indicator",
        "band": "clear_concern",
        "age_group": "minor",
        "action": "mdt_referral",
        "action_reason": "",
        "notes": "SYNTHETIC-NOTE",
    }
    given = screening_forms.read_screening(raw, tz=NY, now=AT)
    made = screenings.start(
        mdt.db, client, given=given, actor=staff, keys=mdt.keys, at=AT, minors=MinorSigning()
    )
    screenings.finalise(mdt.db, made, actor=staff, keys=mdt.keys, tz=NY, window_hours=48, at=AT)
    mdt.db.flush()
    return made


def _register(browser, **form):
    token = make.csrf_of_page(browser, "/clients/new")
    return browser.post("/clients", data={"csrf_token": token, "preferred_language": "en", **form})


# -- client records -----------------------------------------------------------------


def test_two_clients_may_share_a_reference_and_a_referred_minor_is_linked_as_the_other(
    browser, db, mdt
):
    """The referral carries the owner's client *reference*; the owner then names its client
    on the case by that reference. Registering let two clients share one reference, and
    the link took whichever row came first: the case opened for the referred minor got
    another survivor's record. A second client with a taken reference is now refused; two
    that share one from before are never guessed between."""
    make.login(browser, mdt.shelter_staff.username)
    first = _register(
        browser,
        reference="SH-7",
        given_name="Alder",
        family_name="Synthetic",
        birth_date="1999-01-02",
    )
    second = _register(
        browser,
        reference="SH-7",
        given_name="Birch",
        family_name="Synthetic",
        birth_date="2012-04-09",
    )
    assert first.status_code == 303
    assert second.status_code == 409 and "already has a client with reference SH-7" in second.text
    # Two clients sharing a reference, as one registered before it was refused would.
    assert (
        _register(
            browser,
            reference="SH-8",
            given_name="Birch",
            family_name="Synthetic",
            birth_date="2012-04-09",
        ).status_code
        == 303
    )
    legacy = db.exec(select(Client).where(Client.reference == "SH-8")).one()
    legacy.reference = "SH-7"
    db.add(legacy)
    db.flush()
    other, minor = db.exec(
        select(Client).where(Client.agency_id == mdt.shelter.id).order_by(Client.id)
    ).all()
    mdt.release(
        other, mdt.shelter_staff, purpose="mdt_case_review", sections=["identity"], adult=True
    )
    screening = _screen_minor(mdt, minor, mdt.shelter_staff)
    mdt.release(minor, mdt.shelter_staff)  # the referral fact
    # and the minor's own joining release, as the path from the referral expects
    mdt.release(minor, mdt.shelter_staff, purpose="mdt_case_review", sections=["identity"])
    browser.cookies.clear()
    make.login(browser, mdt.coordinator.username)
    url = f"/referrals/{mdt.shelter.public_id}/{screening.public_id}"
    page = browser.get(url)
    assert page.status_code == 200 and "SH-7" in page.text
    opened = browser.post(
        url, data={"csrf_token": make.csrf_from(page.text), "referral_source": "community_agency"}
    )
    assert opened.status_code == 303
    case = db.exec(select(MdtCase)).one()
    browser.cookies.clear()
    make.login(browser, mdt.shelter_staff.username)
    confirm = browser.post(
        f"/cases/{case.public_id}/link",
        data={
            "csrf_token": make.csrf_of_page(browser, f"/cases/{case.public_id}"),
            "client_reference": "SH-7",  # the reference the referral carried
        },
    )
    link = db.exec(select(CaseLink).where(CaseLink.case_id == case.id)).one()
    linked = {other.id: "the OTHER survivor", minor.id: "the referred minor"}.get(link.client_id)
    assert confirm.status_code == 409 and link.confirmed_at is None, (
        f"naming SH-7 on the case opened from the minor's referral answered "
        f"{confirm.status_code} and linked {linked} (whichever row the database returned first)"
    )


# -- referrals ----------------------------------------------------------------------


def _open_from_referral(browser, url):
    page = browser.get(url)
    assert page.status_code == 200
    return browser.post(
        url, data={"csrf_token": make.csrf_from(page.text), "referral_source": "community_agency"}
    )


def test_posting_the_referrals_open_case_form_twice_opens_two_mdt_cases_for_one_minor(
    browser, db, mdt
):
    """The form is a plain POST with no guard: a double click, a browser resubmit, or a
    second coordinator opens a second MDT case (a second 14-day clock, a second invitation
    to the shelter) for the same referral, though the coordinator's log already says the
    referral opened a case."""
    told, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(told, mdt.shelter_staff)
    make.login(browser, mdt.coordinator.username)
    url = f"/referrals/{mdt.shelter.public_id}/{screening.public_id}"
    token = make.csrf_from(browser.get(url).text)
    data = {"csrf_token": token, "referral_source": "community_agency"}
    first = browser.post(url, data=data)
    again = browser.post(url, data=data)
    assert first.status_code == 303
    opened = db.exec(select(MdtCase)).all()
    assert len(opened) == 1, (
        f"one referral ({screening.public_id}) opened {len(opened)} MDT cases: "
        f"{[c.reference for c in opened]} (second POST answered {again.status_code})"
    )


def test_a_release_signed_by_a_parent_later_recorded_as_suspected_exploiter_still_discloses(
    browser, db, mdt
):
    """A minor's referral release is signed by the minor and a parent. The shelter then
    records that parent as a suspected exploiter ("can never sign a release for this
    client"): the release they signed stays in effect, unflagged, and the shelter's point
    keeps telling the coordinator of the minor under it."""
    told, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    release = mdt.release(told, mdt.shelter_staff)  # signed by the minor and "Pat Example"
    make.login(browser, mdt.shelter_staff.username)
    url = f"/clients/{told.public_id}"
    recorded = browser.post(
        f"{url}/restricted-persons",
        data={
            "csrf_token": make.csrf_of_page(browser, url),
            "name": "Pat Example",
            "reason": "suspected_exploiter",
            "confirmed": "yes",  # shown that it revokes the release Pat Example signed
        },
    )
    assert recorded.status_code == 303
    release_page = browser.get(f"/releases/{release.public_id}").text
    browser.cookies.clear()
    make.login(browser, mdt.coordinator.username)
    referral = browser.get(f"/referrals/{mdt.shelter.public_id}/{screening.public_id}")
    assert referral.status_code == 404, (
        "the coordinator is still told of the minor under a release signed by a person the "
        "shelter has since recorded as a suspected exploiter; the release page says "
        + ("nothing of it" if "signed by a restricted" not in release_page else "so")
    )


# -- section versions ---------------------------------------------------------------


def _save(browser, url, **fields):
    token = make.csrf_from(browser.get(url).text)
    return browser.post(url, data={"csrf_token": token, **fields})


def test_a_section_form_saved_from_a_stale_version_silently_supersedes_a_colleagues_newer_one(
    client, db, keys
):
    """Two advocates open the safety plan at version 1. One saves version 2 (a new code word
    and safe place). The other then saves the form they opened: it becomes version 3,
    built from version 1, and the colleague's change is gone from the current plan (and
    from the survivor's printed copy) without a word: nothing says the form was stale."""
    agency = make.agency(db, keys)
    record = make.client_record(db, agency, keys)
    first = make.user(db, agency, Role.ADVOCATE)
    second = make.user(db, agency, Role.ADVOCATE)
    url = f"/clients/{record.public_id}/sections/safety_plan"
    make.login(client, first.username)
    assert _save(client, url, safe_places="SYNTHETIC-LIBRARY").status_code == 303
    assert "SYNTHETIC-LIBRARY" in client.get(url).text  # the form the first one keeps open
    client.cookies.clear()
    make.login(client, second.username)
    newer = _save(client, url, safe_places="SYNTHETIC-LIBRARY", measures="SYNTHETIC-CODE-WORD")
    assert newer.status_code == 303
    client.cookies.clear()
    make.login(client, first.username)
    token = make.csrf_of_page(client, "/")
    stale = client.post(
        url,
        # the form as opened at version 1 (its page says so), one field changed
        data={
            "csrf_token": token,
            "based_on": "1",
            "safe_places": "SYNTHETIC-LIBRARY",
            "stage": "leaving",
        },
    )
    versions = db.exec(
        select(SectionEntry.version).where(
            SectionEntry.client_id == record.id, SectionEntry.section_key == "safety_plan"
        )
    ).all()
    current = client.get(url).text.split("History", 1)[1].split("</details>", 1)[0]
    assert stale.status_code == 409 or "SYNTHETIC-CODE-WORD" in current, (
        f"the stale form was saved as version {max(versions)} ({stale.status_code}); the "
        "colleague's measures (version 2) are no longer in the current plan"
    )


def test_opening_one_referral_discloses_and_logs_every_other_minor_of_that_partner(
    browser, db, mdt
):
    """The coordinator opens the page of one referral. The page asks the shelter's point for
    all its flagged minors and keeps one: the shelter's log (and each other minor's
    accounting of disclosures) records a release of that other minor to the coordinator,
    and the coordinator's log a receipt, for a page that never showed them."""
    shown, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(shown, mdt.shelter_staff)
    other, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(other, mdt.shelter_staff)
    make.login(browser, mdt.coordinator.username)
    before = db.exec(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first() or 0
    page = browser.get(f"/referrals/{mdt.shelter.public_id}/{screening.public_id}")
    assert page.status_code == 200 and other.reference not in page.text
    released_of_other = db.exec(
        select(AuditEntry).where(
            AuditEntry.id > before,
            AuditEntry.agency_id == mdt.shelter.id,
            AuditEntry.client_ref == other.public_id,
            AuditEntry.decision == "released",
        )
    ).all()
    received = db.exec(
        select(AuditEntry).where(
            AuditEntry.id > before,
            AuditEntry.agency_id == mdt.cac.id,
            AuditEntry.tag == "disclosure:section:received",
        )
    ).all()
    assert released_of_other == [] and len(received) == 1, (
        f"viewing the referral of {shown.reference} wrote {len(released_of_other)} release(s) "
        f"of {other.reference} in the shelter's log and {len(received)} receipts in the "
        "coordinator's, though that minor was never shown"
    )


def test_a_survivor_who_has_turned_18_is_still_referred_to_the_coordinator_as_a_minor(
    browser, db, mdt, clock
):
    """The referral question is "minors with a clear concern and no MDT case", and every
    referral is shown as "Age group: minor". The flag is the screening's age group on the
    day screened, never the client's age now: a survivor screened at 17 who has since
    turned 18 is still told of, as a minor, to the child-abuse MDT's coordinator, under a
    release a parent co-signed for them as a child."""
    # Screened on 2026-10-31 and the release co-signed on 2026-11-02, at 17; 18 on
    # 2026-11-04; the coordinator reads the page on 2026-11-05.
    told, screening = mdt.minor(mdt.shelter, mdt.shelter_staff, birth=date(2008, 11, 4))
    mdt.release(told, mdt.shelter_staff)
    clock.advance(days=3)
    make.login(browser, mdt.coordinator.username)
    page = browser.get(f"/referrals/{mdt.shelter.public_id}/{screening.public_id}")
    assert page.status_code == 404, (
        f"{told.reference}, 18 since 2026-11-04, is shown to the coordinator on 2026-11-05 "
        "as 'Age group: minor'"
        if "<dt>Age group</dt><dd>minor</dd>" in page.text
        else page.text[:300]
    )


# -- compelled disclosures and dates typed --------------------------------------------


def test_a_compelled_disclosure_dated_in_year_1_is_recorded_in_the_accounting(client, db, keys):
    """Other dates people type are held to a window (tasks, meetings, releases, audit
    search); the compelled-disclosure form takes any ISO date in the past, so a slip of
    the keyboard (0001 for 2026) enters the log and the client's accounting of disclosures
    as a disclosure made in year 1, long before the agency had the client."""
    agency = make.agency(db, keys)
    record = make.client_record(db, agency, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    url = f"/clients/{record.public_id}"
    answer = client.post(
        f"{url}/compelled-disclosures",
        data={
            "csrf_token": make.csrf_of_page(client, url),
            "recipient": "Synthetic County Court",
            "basis": "subpoena",
            "basis_detail": "SYN-0001",
            "disclosed_on": "0001-10-30",
            "client_told": "yes",
            "sections": "screening",
        },
    )
    entries = db.exec(
        select(AuditEntry).where(AuditEntry.tag == "disclosure:compelled:recorded")
    ).all()
    assert answer.status_code == 400 and entries == [], (
        f"answered {answer.status_code}; the log holds {[e.detail for e in entries]}"
    )


def test_a_safety_plan_review_date_in_year_9999_is_saved_and_the_plan_never_falls_due(
    client, db, keys
):
    """The safety plan's "Review by" date sets the plan's review clock; the section form
    takes any ISO date, so 9999-12-31 (or 0001-01-01) is saved as a version and the plan
    never appears among plans past review (or has been overdue since year 1)."""
    agency = make.agency(db, keys)
    record = make.client_record(db, agency, keys)
    advocate = make.user(db, agency, Role.ADVOCATE)
    make.login(client, advocate.username)
    url = f"/clients/{record.public_id}/sections/safety_plan"
    answer = _save(client, url, measures="SYNTHETIC-MEASURE", review_date="9999-12-31")
    saved = db.exec(select(SectionEntry).where(SectionEntry.client_id == record.id)).all()
    assert answer.status_code == 400 and saved == [], (
        f"answered {answer.status_code}; {len(saved)} section versions written"
    )


# -- restricted persons -----------------------------------------------------------------


def test_restricted_persons_names_are_shown_to_a_role_the_policy_keeps_from_names_unaudited(
    browser, db, mdt
):
    """The agency's policy keeps clients' names from its lead: the client page withholds
    the identity and the release page writes "Name withheld by your agency's policy" for
    the parent who co-signed. The same page lists the persons who may never sign by name,
    so the lead reads that very parent's name (and family name, the client's too) there,
    with no policy decision and no entry in the agency's log."""
    told, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    release = mdt.release(told, mdt.shelter_staff)  # the parent "Pat Example" co-signs
    make.login(browser, mdt.shelter_staff.username)
    url = f"/clients/{told.public_id}"
    browser.post(
        f"{url}/restricted-persons",
        data={
            "csrf_token": make.csrf_of_page(browser, url),
            "name": "Pat Example",
            "reason": "court_order",
        },
    )
    lead = make.user(db, mdt.shelter, Role.AGENCY_LEAD)
    browser.cookies.clear()
    make.login(browser, lead.username)
    release_page = browser.get(f"/releases/{release.public_id}").text
    assert "Name withheld by your agency&#39;s policy" in release_page or (
        "Name withheld by your agency's policy" in release_page
    )
    assert "Pat Example" not in release_page
    page = browser.get(url).text
    assert 'data-section="identity" data-gate="policy"' in page  # the name is withheld
    assert "Pat Example" not in page, (
        "the client page withholds the client's identity from the lead, and the release "
        "page the co-signing parent's name, yet lists 'Pat Example' among the persons who "
        "may never sign"
    )


# -- section versions saved at once (PostgreSQL) ----------------------------------------


def test_two_staff_saving_one_section_at_once_gets_an_integrity_error_not_a_conflict(
    backend, keys, tmp_path
):
    """`add_version` reads max(version) and inserts max+1 with no lock: two saves of one
    section at once (two advocates updating the safety plan after a call) both choose the
    same version; the second waits on the unique index and then fails with a raw
    IntegrityError, which no handler maps (not transient, not a DomainError): a 500 for
    the second person, their plan not saved and nothing said of why."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: the second save is told to try again (503)")
    # Its own database, whose commits are real (the session's is shared by every test).
    with migrated_engine(backend, tmp_path) as engine:
        _two_saves_at_once(engine, keys)


def _two_saves_at_once(engine, keys):
    import threading
    import time

    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    from portal.errors import DomainError
    from portal.models import StaffUser
    from portal.services import section_versions

    with Session(engine, expire_on_commit=False) as setup:
        agency = make.agency(setup, keys)
        record = make.client_record(setup, agency, keys)
        user = make.user(setup, agency, Role.ADVOCATE)
        setup.commit()
    first, second = Session(engine), Session(engine)
    outcome: dict = {}

    def save(session, words):
        try:
            section_versions.add_version(
                session,
                session.get(Client, record.id),
                "care_plan",
                {"goals": words},
                actor=session.get(StaffUser, user.id),
                keys=keys,
                at=AT,
            )
            session.commit()
            outcome[words] = "saved"
        except Exception as error:  # what the second save meets
            session.rollback()
            outcome[words] = error

    try:
        save_first = section_versions.add_version(
            first,
            first.get(Client, record.id),
            "care_plan",
            {"goals": "SYNTHETIC-A"},
            actor=first.get(StaffUser, user.id),
            keys=keys,
            at=AT,
        )
        assert save_first.version == 1
        racing = threading.Thread(target=save, args=(second, "SYNTHETIC-B"))
        racing.start()
        time.sleep(1.0)  # the second save now waits on the first's uncommitted version 1
        first.commit()
        racing.join(timeout=30)
    finally:
        first.close()
        second.close()
    met = outcome.get("SYNTHETIC-B")
    assert met == "saved" or isinstance(met, DomainError), (
        f"the second of two saves at once met {type(met).__name__}: {str(met)[:160]}"
    )
    assert not isinstance(met, IntegrityError)
