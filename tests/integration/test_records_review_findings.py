"""An agency's own records: sections and their versions, the safety plan and the
survivor's printed copy, and how their content is sealed at rest.

Each test here failed on the code it was written against (found by a review); each says
what should happen. Synthetic data only."""

from __future__ import annotations

import pytest
from mentor_helpers import in_caseload
from sqlalchemy import update
from sqlmodel import select

from portal import crypto
from portal.models import AuditEntry, Discipline, Role, SectionEntry
from portal.models.section import sealed_for
from portal.services import sections

import factories as make

SAFE_ADDRESS = "12 SYNTHETIC LANE"


def _agency_with_client(db, keys, discipline=Discipline.ADVOCACY, **client_values):
    agency = make.agency(db, keys, discipline=discipline)
    author = make.user(db, agency, Role.ADVOCATE)
    person = make.client_record(db, agency, keys, **client_values)
    return agency, author, person


def _plan(db, keys, person, author, at, **values):
    entry = sections.save_section(db, person, "safety_plan", values, actor=author, keys=keys, at=at)
    db.flush()
    return entry


def _entries(db, agency, tag):
    return db.exec(
        select(AuditEntry).where(AuditEntry.agency_id == agency.id, AuditEntry.tag == tag)
    ).all()


# -- the survivor's printed copy of the safety plan ----------------------------------------


def test_a_refused_survivors_copy_is_kept_in_the_agencys_log(client, db, keys, clock):
    # Before: a survivor-mentor (kept from the safety plan by the policy) asked for the
    # printable copy, got a 403, and the refusal left no entry in the agency's log: the
    # handler set keep_on_error and then raised, and the guard rolls back on any exception.
    # "Denials are audited too": a lead could never see who tried to print survivors' plans.
    agency, author, person = _agency_with_client(db, keys)
    _plan(db, keys, person, author, clock(), safe_places="SYNTHETIC LIBRARY")
    mentor = make.user(db, agency, Role.SURVIVOR_MENTOR)
    in_caseload(db, person, mentor)
    make.login(client, mentor.username)
    page = client.get(f"/clients/{person.public_id}/safety-plan/print")
    assert page.status_code == 403 and "SYNTHETIC LIBRARY" not in page.text
    refusals = [
        e
        for e in _entries(db, agency, "disclosure:section:withheld")
        if e.section_key == "safety_plan"
    ]
    assert len(refusals) == 1, "the refused print of the safety plan is not in the agency's log"


def test_a_survivors_copy_refused_for_its_purpose_does_not_blame_the_role(client, db, keys, clock):
    # Before: an MDT coordinator, who may read the plan for case review, asked for the copy
    # for care coordination and was told "your role may not read this client's safety
    # plan" (the section page, asked the same, names the role and the purpose): the
    # coordinator is sent to ask the lead for a role they already hold.
    agency, author, person = _agency_with_client(db, keys)
    _plan(db, keys, person, author, clock(), safe_places="SYNTHETIC LIBRARY")
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    make.login(client, coordinator.username)
    url = f"/clients/{person.public_id}/safety-plan/print"
    assert client.get(url).status_code == 200  # for case review, the role may
    refused = client.get(url + "?purpose=care_coordination")
    assert refused.status_code == 403
    assert "your role may not read" not in refused.text
    assert "care coordination" in refused.text


def test_a_plan_with_nothing_for_the_survivors_copy_is_not_called_no_plan(client, db, keys, clock):
    # Before: a plan whose only entries are the agency's notes and an address the survivor
    # did not ask to print gave a copy reading "No safety plan recorded yet.", while the
    # log recorded "survivor's safety plan printed, version 1": staff are told there is no
    # plan (and may start one from nothing), and the log says a plan was printed.
    agency, author, person = _agency_with_client(db, keys)
    _plan(
        db,
        keys,
        person,
        author,
        clock(),
        agency_notes="SYNTHETIC AGENCY NOTE",
        safe_address=SAFE_ADDRESS,
        print_address="no",
    )
    make.login(client, author.username)
    page = client.get(f"/clients/{person.public_id}/safety-plan/print")
    assert page.status_code == 200
    assert "SYNTHETIC AGENCY NOTE" not in page.text and SAFE_ADDRESS not in page.text
    assert "No safety plan recorded yet" not in page.text, (
        "version 1 of the plan exists; the copy says none is recorded and the log says "
        f"{[e.detail for e in _entries(db, agency, 'record:safety_plan:printed')]} printed"
    )


# -- section forms -------------------------------------------------------------------------


def test_a_section_form_naming_a_version_never_saved_is_refused_in_words(client, db, keys):
    # Before: a section form sent with based_on naming a version the section never had
    # (a form kept from another client's page, a stale tab after a restore, a tampered
    # field) gave a 500: the conflict message reads latest.version with no version saved.
    _agency, author, person = _agency_with_client(db, keys)
    make.login(client, author.username)
    url = f"/clients/{person.public_id}/sections/safety_plan"
    answer = client.post(
        url,
        data={
            "csrf_token": make.csrf_of_page(client, url),
            "based_on": "1",
            "safe_places": "SYNTHETIC LIBRARY",
        },
    )
    assert answer.status_code in (400, 409), answer.status_code
    assert "Something went wrong" not in answer.text


# -- sealed at rest ------------------------------------------------------------------------


# -- the plan's clocks -------------------------------------------------------------------


def test_recording_the_placement_type_for_the_first_time_is_not_a_move(client, db, keys):
    # Before: placement notes saved first, then the placement type recorded for the first
    # time (no move date): the save counted as a move ("a different placement type than
    # the version before": blank to "shelter"), marked the plan due for review after a
    # move and logged "safety plan due for review: placement change", though the survivor
    # never moved. A first type is a move only with a move date, as a first version is.
    agency = make.agency(db, keys, discipline=Discipline.SHELTER)
    manager = make.user(db, agency, Role.CASE_MANAGER)
    person = make.client_record(db, agency, keys)
    make.login(client, manager.username)
    url = f"/clients/{person.public_id}/sections/placement_housing"
    token = make.csrf_of_page(client, url)
    first = client.post(url, data={"csrf_token": token, "based_on": "0", "stability": "Settled"})
    typed = client.post(
        url,
        data={
            "csrf_token": token,
            "based_on": "1",
            "stability": "Settled",
            "placement_type": "shelter",
        },
    )
    assert first.status_code == typed.status_code == 303
    moves = _entries(db, agency, "record:safety_plan:review_due")
    assert moves == [], [m.detail for m in moves]


# -- the purpose own staff read for ------------------------------------------------------


def test_a_section_saved_for_a_purpose_is_shown_again_for_that_purpose(client, db, keys):
    # Before: a case manager working for care coordination (?purpose=care_coordination on
    # the form, as on the case summary) saved a section and was sent back to the section
    # without the purpose: the page read it again, and the agency's log recorded that read,
    # as for MDT case review, a purpose the person never chose.
    agency, _author, person = _agency_with_client(db, keys, discipline=Discipline.SHELTER)
    manager = make.user(db, agency, Role.CASE_MANAGER)
    make.login(client, manager.username)
    url = f"/clients/{person.public_id}/sections/placement_housing?purpose=care_coordination"
    saved = client.post(
        url,
        data={
            "csrf_token": make.csrf_of_page(client, url),
            "based_on": "0",
            "stability": "SYNTHETIC STABILITY NOTE",
        },
    )
    assert saved.status_code == 303
    assert "purpose=care_coordination" in saved.headers["location"]


# -- sealed at rest ------------------------------------------------------------------------


def test_a_sealed_version_moved_to_another_client_does_not_open_as_theirs(db, keys, clock):
    # Before: a section version was sealed with the agency's key and nothing else, so a
    # database writer (no key needed) who moved one client's sealed safety plan onto another
    # client's row (one UPDATE of client_id) had it opened and shown as the other
    # survivor's plan, and disclosed under the other's release.
    agency, author, first = _agency_with_client(db, keys)
    second = make.client_record(db, agency, keys, given="Sky", family="Sample")
    entry = _plan(db, keys, first, author, clock(), safe_address=SAFE_ADDRESS, print_address="no")
    db.execute(update(SectionEntry).where(SectionEntry.id == entry.id).values(client_id=second.id))
    db.expire_all()
    with pytest.raises(crypto.SealedElsewhere):
        sections.history(db, second, "safety_plan", keys=keys)


def test_a_sealed_version_opens_where_it_was_written_and_older_records_still_open(db, keys):
    secret = crypto.new_data_secret()
    place = sealed_for(1, 2, "safety_plan", 3)
    sealed = crypto.seal_json(secret, {"plan": "synthetic"}, bound_to=place)
    assert crypto.open_json(secret, sealed, bound_to=place) == {"plan": "synthetic"}
    for elsewhere in (sealed_for(1, 9, "safety_plan", 3), sealed_for(1, 2, "medical", 3)):
        with pytest.raises(crypto.SealedElsewhere):
            crypto.open_json(secret, sealed, bound_to=elsewhere)
    older = crypto.seal_json(secret, {"plan": "sealed before places"})
    assert crypto.open_json(secret, older, bound_to=place) == {"plan": "sealed before places"}
