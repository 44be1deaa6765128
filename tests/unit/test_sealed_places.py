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
from portal.crypto import KeyWrapper
from portal.disclosure.legal_basis import younger_than
from portal.models import Client, Discipline, Role, SectionEntry
from portal.models.screening import RiskScreen, RiskScreenPerson, Screening, ScreeningAmendment
from portal.services import clients, risk_screens, screenings, section_versions
from portal.services.keys import data_secret
from portal.settings import from_environment

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


def _sealed_the_old_way(db, table, row_id: int, column: str, secret: bytes, value: dict) -> None:
    db.execute(
        update(table).where(table.id == row_id).values({column: crypto.seal_json(secret, value)})
    )
    db.expire_all()


def test_with_bound_only_set_no_record_sealed_the_old_way_opens_anywhere(
    db, keys, node_secrets, two
):
    """PORTAL_SEALED_BOUND_ONLY: one survivor's identity, sealed the old way and copied onto
    another survivor's row, opened there as theirs (birth date and all) without it; with
    it, nothing sealed the old way opens, by any reader: staff pages or the disclosure
    point's legal basis."""
    agency, staff, first, second = two
    bound_only = KeyWrapper(node_secrets.kek_bytes(), bound_only=True)
    _, secret = data_secret(db, agency.id, keys=keys)
    robins = clients.reveal_identity(db, first, keys=keys).to_dict()
    _sealed_the_old_way(db, Client, second.id, "identity_sealed", secret, robins)
    moved = db.get(Client, second.id)
    assert clients.reveal_identity(db, moved, keys=keys).given_name == "Robin"  # the hole
    with pytest.raises(crypto.SealedUnbound):
        clients.reveal_identity(db, moved, keys=bound_only)
    with pytest.raises(crypto.SealedElsewhere):  # handled as a moved bound record is
        younger_than(db, agency, second.id, 18, at=make.AT, tz=NY, keys=bound_only)

    when = local(2026, 11, 2, 10, 0)
    made = screen(db, keys, first, staff, when, notes="Robin's synthetic notes.")
    _sealed_the_old_way(
        db, Screening, made.id, "notes_sealed", secret, {"notes": "Old.", "action_reason": ""}
    )
    with pytest.raises(crypto.SealedUnbound):
        screenings.screening_view(db, db.get(Screening, made.id), keys=bound_only, tz=NY)
    clock, _ = _clock_with_person(db, keys, second, staff, when, "Sky's risks.")
    _sealed_the_old_way(db, RiskScreen, clock.id, "notes_sealed", secret, {"notes": "Old."})
    with pytest.raises(crypto.SealedUnbound):
        risk_screens.view(db, db.get(RiskScreen, clock.id), keys=bound_only, now=when)
    entry = section_versions.add_version(
        db, first, "safety_plan", {"safe_places": "Library"}, actor=staff, keys=keys, at=when
    )
    db.flush()
    assert section_versions.open_content(db, entry, keys=bound_only)["safe_places"] == "Library"
    _sealed_the_old_way(
        db, SectionEntry, entry.id, "content_sealed", secret, {"safe_places": "Library"}
    )
    with pytest.raises(crypto.SealedUnbound):
        section_versions.open_content(db, db.get(SectionEntry, entry.id), keys=bound_only)
    # a record sealed for its place opens as ever
    assert clients.reveal_identity(db, first, keys=bound_only).given_name == "Robin"


def test_bound_only_is_read_from_the_environment_and_off_unless_set(tmp_path):
    env = {"PORTAL_SECRETS_FILE": str(tmp_path / "s.json")}
    assert from_environment(env).key_wrapper().bound_only is False
    on = from_environment({**env, "PORTAL_SEALED_BOUND_ONLY": "1"})
    assert on.sealed_bound_only and on.key_wrapper().bound_only
    with pytest.raises(ValueError):
        from_environment({**env, "PORTAL_SEALED_BOUND_ONLY": "perhaps"})
