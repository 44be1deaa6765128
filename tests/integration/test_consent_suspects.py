"""Consent releases, printing, minors and languages, as a reviewer suspected them.

Each test is named after what should happen, and failed on the code the reviewer read, for
the reason its comment gives. Synthetic data only."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

import pytest
from page_text import page_text
from referral_helpers import NY, Mdt
from sqlmodel import select
from starlette.testclient import TestClient
from test_release_pages import Team, create_release, sign_form, signed_release

import consent
from portal.app import create_app
from portal.models import ConsentRelease, Discipline, Role
from portal.services import releases, screenings, sections
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import factories as make

# --- a printed release says what it is now ---------------------------------------------


def test_a_printed_revoked_release_says_it_is_revoked_and_names_the_time_zone(
    client, db, keys, clock
):
    # Before: the printed form of a revoked release read as a valid one (nothing on the
    # paper said it was revoked: the print view never looked at its status), and "Printed
    # 2026-11-02 10:00 by ..." named no time zone (the page's footer that does is not
    # printed).
    team = Team(client, db, keys)
    url = signed_release(client, team, language="es", keys=keys)
    revoked = client.post(f"{url}/revoke", data={"csrf_token": team.token, "reason": "asked"})
    assert revoked.status_code == 303
    printed = page_text(client.get(f"{url}/print").text)
    # The day in the form's language, as the rest of the printed form writes it.
    assert "RETIRADO (REVOCADO): este permiso fue retirado el 2 de noviembre de 2026." in printed
    assert "la zona horaria America/New York (EST)" in printed, printed


# --- the node's age of majority, not 18 ------------------------------------------------


@pytest.fixture
def of_age_at(settings, engine, connection):
    """A browser on a node whose jurisdiction sets another age of majority."""

    def browser(age: int, **changes):
        app = create_app(
            replace(settings, age_of_majority=age, **changes), engine=engine, bind=connection
        )
        return TestClient(app, base_url="http://testserver", follow_redirects=False)

    return browser


def test_the_client_page_says_the_client_came_of_age_at_the_nodes_age_of_majority(
    of_age_at, db, keys, clock
):
    # Before: on a node whose age of majority is 21, a client who signed as a minor at 20
    # and has turned 21 is told "The client has turned 18 since signing a release as a
    # minor": the words were fixed, although the rule behind them follows the setting.
    with of_age_at(21) as browser:
        team = Team(browser, db, keys)
        team.client_row = make.client_record(db, team.owner, keys, birth=date(2005, 11, 5))
        url = create_release(browser, team)
        signed = browser.post(
            f"{url}/sign",
            data=sign_form(team, second_signer_name="Pat Example", second_signer_capacity="parent"),
        )
        assert signed.status_code == 303, signed.text
        clock.advance(days=4)  # 21 on 5 November, where the MDT is
        team.sign_in_again(browser)
        page = page_text(browser.get(f"/clients/{team.client_row.public_id}").text)
    assert "The client has turned 21 since signing a release as a minor." in page, page
    assert "turned 18" not in page


def test_a_minor_under_the_nodes_age_of_majority_is_referred_although_18(
    of_age_at, db, keys, clock
):
    # Before: on a node whose age of majority is 19, a survivor of 18 screened as a minor
    # (screening follows the setting) was dropped from the coordinator's referrals, for the
    # referral point checked "still a minor" against consent.AGE_OF_MAJORITY (18).
    mdt = Mdt(db, keys)
    client_row = make.client_record(db, mdt.shelter, keys, birth=date(2008, 6, 1))  # 18
    given = screening_forms.read_screening(
        {
            "tool": "cse_it",
            "tool_version": "2.0",
            "screened_at": f"{(make.AT - timedelta(days=2)).astimezone(NY):%Y-%m-%dT%H:%M}",
            "trigger": "indicator",
            "band": "clear_concern",
            "age_group": "minor",
            "action": "mdt_referral",
            "action_reason": "",
            "notes": "SYNTHETIC",
        },
        tz=NY,
        now=make.AT,
    )
    minors = MinorSigning(age_of_majority=19, tz=NY)
    screening = screenings.start(
        db, client_row, given=given, actor=mdt.shelter_staff, keys=keys, at=make.AT, minors=minors
    )
    screenings.finalise(
        db, screening, actor=mdt.shelter_staff, keys=keys, tz=NY, window_hours=48, at=make.AT
    )
    mdt.release(client_row, mdt.shelter_staff, adult=True)
    db.flush()
    with of_age_at(19, coordinating_agency=mdt.cac.name) as browser:
        make.login(browser, mdt.coordinator.username)
        page = browser.get(f"/referrals/{mdt.shelter.public_id}/{screening.public_id}")
    assert page.status_code == 200, page.text[:300]
    assert "<dt>Age group</dt><dd>minor</dd>" in page.text


# --- a release signed outside releases.sign() ------------------------------------------


def test_a_release_signed_with_the_agencys_key_but_lacking_a_witness_and_a_statement_is_not_valid(
    client, db, keys
):
    # Before: the verify page checked the signature and the dates only. A file signed with
    # a roster key outside releases.sign() (the consent library is usable on its own, by a
    # partner or a script) that names no staff witness and leaves out the statement that
    # services do not depend on signing, which consent.validate refuses, read "Valid and
    # in effect now".
    team = Team(client, db, keys)
    url = signed_release(client, team, keys=keys)
    row = db.exec(
        select(ConsentRelease).where(ConsentRelease.public_id == url.rsplit("/", 1)[1])
    ).one()
    document = releases.signed_document(db, row, keys=keys)
    statements = replace(document.statements, no_conditioning="")
    lacking = replace(
        document,
        witness=None,
        statements=statements,
        statements_sha256=consent.statements_digest(statements),
    )
    key_id, signing_key, _at = releases._signing_key(db, team.owner, keys=keys, at=row.signed_at)
    envelope = consent.sign_release(lacking, signing_key, key_id).to_dict()
    page = client.post(
        "/consent/verify",
        data={"csrf_token": team.token, "language": "en"},
        files={"document": ("release.json", json.dumps(envelope), "application/json")},
    )
    assert page.status_code == 200
    verdict = page_text(page.text)
    assert "Valid and in effect now" not in verdict
    assert "Not valid: do not rely on this file" in verdict, verdict
    assert "The staff witness is not recorded." in verdict, verdict


# --- the survivor's safety plan in the survivor's language -----------------------------


def test_the_survivors_printed_safety_plan_is_in_the_clients_language(client, db, keys, clock):
    # Before: the survivor's copy was English whatever language the client reads ("My
    # safety plan", "Stage: leaving"), while their printed release is in their language.
    # Its fixed words follow the client's language now; what staff typed stays as typed.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    author = make.user(db, agency, Role.ADVOCATE)
    person = make.client_record(db, agency, keys)
    person.preferred_language = "es"
    db.add(person)
    sections.save_section(
        db,
        person,
        "safety_plan",
        {"stage": "leaving", "safe_places": "SYNTHETIC LIBRARY, open late"},
        actor=author,
        keys=keys,
        at=clock(),
    )
    db.flush()
    make.login(client, author.username)
    page = client.get(f"/clients/{person.public_id}/safety-plan/print")
    assert page.status_code == 200
    printed = page_text(page.text)
    assert "Mi plan de seguridad" in printed, printed
    assert "Etapa saliendo" in printed and "Lugares seguros" in printed, printed
    assert "SYNTHETIC LIBRARY, open late" in printed  # as staff typed it
    assert 'lang="es"' in page.text
