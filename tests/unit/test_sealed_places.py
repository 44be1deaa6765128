"""Every sealed survivor record opens only for its place: a client's identity, a
screening's notes and amendments, a risk screen's notes and each household member's.

Someone who can write the database, with no key, copies one survivor's sealed column onto
another survivor's row: before, it opened there, as the other's (their name, their
screening notes, their risks); now reading it is refused (SealedElsewhere). Records sealed
before places were bound still open. Synthetic data only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from test_screening import NY, _amend, local, screen

from portal import crypto
from portal.disclosure.legal_basis import younger_than
from portal.models import Client, Discipline, Role
from portal.models.screening import RiskScreen, RiskScreenPerson, Screening, ScreeningAmendment
from portal.services import clients, risk_screens, screenings
from portal.services.keys import data_secret

import factories as make


@pytest.fixture
def two(db, keys):
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    staff = make.user(db, agency, Role.ADVOCATE, Role.MDT_COORDINATOR)
    first = make.client_record(db, agency, keys, given="Robin", birth=make.MINOR_BIRTH)
    second = make.client_record(
        db, agency, keys, given="Sky", family="Sample", birth=make.MINOR_BIRTH
    )
    return agency, staff, first, second


def _move(db, table, column: str, from_id: int, to_id: int) -> None:
    """What a database writer does without any key: one row's sealed column onto another's."""
    sealed = db.get(table, from_id)
    db.execute(update(table).where(table.id == to_id).values({column: getattr(sealed, column)}))
    db.expire_all()


def test_a_clients_identity_moved_onto_another_client_does_not_open_as_theirs(db, keys, two):
    agency, _, first, second = two
    _move(db, Client, "identity_sealed", first.id, second.id)
    moved = db.get(Client, second.id)
    with pytest.raises(crypto.SealedElsewhere):
        clients.reveal_identity(db, moved, keys=keys)
    # nor is the first survivor's birth date taken as the second's age by a legal basis
    with pytest.raises(crypto.SealedElsewhere):
        younger_than(db, agency, second.id, 18, at=make.AT, tz=NY, keys=keys)
    assert clients.reveal_identity(db, db.get(Client, first.id), keys=keys).given_name == "Robin"


def test_screening_notes_moved_onto_another_clients_screening_do_not_open(db, keys, two):
    _, staff, first, second = two
    when = local(2026, 11, 2, 10, 0)
    theirs = screen(db, keys, first, staff, when, notes="Robin's synthetic notes.")
    other = screen(db, keys, second, staff, when)
    _move(db, Screening, "notes_sealed", theirs.id, other.id)
    with pytest.raises(crypto.SealedElsewhere):
        screenings.screening_view(db, db.get(Screening, other.id), keys=keys, tz=NY)
    assert screenings.screening_view(db, db.get(Screening, theirs.id), keys=keys, tz=NY).notes


def test_a_screening_amendment_moved_onto_another_does_not_open(db, keys, two):
    _, staff, first, second = two
    when = local(2026, 11, 2, 10, 0)
    locked = when + timedelta(days=8)
    theirs = screen(db, keys, first, staff, when)
    other = screen(db, keys, second, staff, when)
    moved = _amend(db, keys, theirs, when, locked, band="no_concern", reason="Robin's reason.")
    kept = _amend(db, keys, other, when, locked, band="no_concern")
    db.flush()
    _move(db, ScreeningAmendment, "change_sealed", moved.id, kept.id)
    with pytest.raises(crypto.SealedElsewhere):
        screenings.screening_view(db, db.get(Screening, other.id), keys=keys, tz=NY)


def _clock_with_person(db, keys, client, staff, when, notes):
    screen(db, keys, client, staff, when)
    clock = risk_screens.open_clock(db, client)
    person = risk_screens.add_person(
        db,
        clock,
        given=risk_screens.HouseholdMemberInput("minor_child", "Child A, 6", notes),
        actor=staff,
        keys=keys,
        at=when,
    )
    risk_screens.record_screen(
        db,
        clock,
        given=risk_screens.RiskNotesInput(notes),
        actor=staff,
        keys=keys,
        at=when,
    )
    db.flush()
    return clock, person


def test_risk_notes_moved_onto_another_clients_risk_screen_do_not_open(db, keys, two):
    _, staff, first, second = two
    when = local(2026, 11, 2, 10, 0)
    theirs, _ = _clock_with_person(db, keys, first, staff, when, "Robin's risks.")
    other, _ = _clock_with_person(db, keys, second, staff, when, "Sky's risks.")
    _move(db, RiskScreen, "notes_sealed", theirs.id, other.id)
    with pytest.raises(crypto.SealedElsewhere):
        risk_screens.view(db, db.get(RiskScreen, other.id), keys=keys, now=when)


def test_a_household_members_risks_moved_onto_another_do_not_open(db, keys, two):
    _, staff, first, second = two
    when = local(2026, 11, 2, 10, 0)
    theirs, their_child = _clock_with_person(db, keys, first, staff, when, "Robin's risks.")
    other, other_child = _clock_with_person(db, keys, second, staff, when, "Sky's risks.")
    _move(db, RiskScreenPerson, "content_sealed", their_child.id, other_child.id)
    with pytest.raises(crypto.SealedElsewhere):
        risk_screens.view(db, db.get(RiskScreen, other.id), keys=keys, now=when)
    seen = risk_screens.view(db, db.get(RiskScreen, theirs.id), keys=keys, now=when)
    assert [p.notes for p in seen.people] == ["Robin's risks."]


def test_records_sealed_before_places_were_bound_still_open(db, keys, two):
    agency, staff, first, _ = two
    _, secret = data_secret(db, agency.id, keys=keys)
    identity = clients.reveal_identity(db, first, keys=keys)
    made = screen(db, keys, first, staff, local(2026, 11, 2, 10, 0), notes="Sealed before.")
    older = {"notes": "Sealed before.", "action_reason": ""}
    db.execute(
        update(Client)
        .where(Client.id == first.id)
        .values(identity_sealed=crypto.seal_json(secret, identity.to_dict()))
    )
    db.execute(
        update(Screening)
        .where(Screening.id == made.id)
        .values(notes_sealed=crypto.seal_json(secret, older))
    )
    db.expire_all()
    assert clients.reveal_identity(db, db.get(Client, first.id), keys=keys) == identity
    seen = screenings.screening_view(db, db.get(Screening, made.id), keys=keys, tz=NY)
    assert seen.notes == "Sealed before."
