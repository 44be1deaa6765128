"""Re-sealing records sealed the old way (the agency's key alone) for their place:
content unchanged, done once, stopped part-way without loss, and a moved record refused
afterwards. Synthetic data only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from disclosure_helpers import World, release
from sqlalchemy import update
from sqlmodel import func, select
from test_screening import _amend, local
from test_sealed_places import _clock_with_person, _move, two  # noqa: F401 - a fixture

from portal import crypto
from portal.models import Client
from portal.models.screening import RiskScreenPerson, Screening
from portal.services import clients, releases, reseal, restricted_persons, sections
from portal.services.keys import data_secret

import factories as make

KINDS = {kind.name: kind for kind in reseal.KINDS}


def _records(db, keys):
    """Every sealed record: (kind, id) -> (key id, sealed, the places it may be for, secret)."""
    found = {}
    for kind in reseal.KINDS:
        for row_id, agency_id, key_id, sealed, *parts in db.exec(kind.rows()).all():
            _, secret = data_secret(db, agency_id, keys=keys, key_id=key_id)
            found[kind.name, row_id] = (
                bytes(sealed),
                kind.places(row_id, agency_id, *parts),
                secret,
            )
    return found


def _contents(db, keys):
    return {
        where: crypto.open_json(secret, sealed, bound_to=places)
        for where, (sealed, places, secret) in _records(db, keys).items()
    }


def _seal_the_old_way(db, keys):
    """What a node holds of the records written before places were bound."""
    for (name, row_id), (sealed, places, secret) in _records(db, keys).items():
        kind = KINDS[name]
        old = crypto.seal_json(secret, crypto.open_json(secret, sealed, bound_to=places))
        db.execute(update(kind.table).where(kind.table.id == row_id).values({kind.column: old}))
    db.expire_all()


def _reseal_all(db, keys, clock, *, size=2):
    totals = {}
    for kind in reseal.KINDS:
        after, counts = 0, {}
        while True:
            batch = reseal.reseal_batch(db, kind, after=after, size=size, keys=keys, at=clock())
            for outcome, count in batch.counts.items():
                counts[outcome] = counts.get(outcome, 0) + count
            if batch.last_id is None:
                break
            after = batch.last_id
        totals[kind.name] = counts
    db.expire_all()
    return totals


@pytest.fixture
def node_records(db, keys, two):  # noqa: F811
    _, staff, first, second = two
    when = local(2026, 11, 2, 10, 0)
    made, _ = _clock_with_person(db, keys, first, staff, when, "Robin's risks.")
    _clock_with_person(db, keys, second, staff, when, "Sky's risks.")
    screening = db.get(Screening, made.screening_id)
    _amend(db, keys, screening, when, when + timedelta(days=8), band="no_concern")
    sections.save_section(
        db,
        first,
        "safety_plan",
        {"safe_places": "SYNTHETIC LIBRARY"},
        actor=staff,
        keys=keys,
        at=when,
    )
    signed_and_revoked(db, keys, two)
    db.flush()
    return two


def signed_and_revoked(db, keys, two):  # noqa: F811
    """A release the first client and her guardian signed, revoked with a reason that names
    someone, and a person who may never sign for her: one sealed record of each."""
    agency, staff, first, _ = two
    partner = make.agency(db, keys, name="Reseal Partner (synthetic)")
    w = World(agency, partner, first, first, None, staff, staff)
    row = release(db, keys, w, ["safety_plan"])
    releases.revoke(
        db, row, reason="Asked by Robin's aunt Dana.", actor=staff, keys=keys, at=make.AT
    )
    restricted_persons.record_restricted_person(
        db,
        first,
        name="Dana Suspect",
        reason="other",
        note="Seen near Robin's school.",
        actor=staff,
        keys=keys,
        at=make.AT,
    )
    return row


def test_reseal_seals_every_old_record_for_its_place_unchanged_and_once(
    db, keys, clock, node_records
):
    _, _, first, second = node_records
    before = _contents(db, keys)
    _seal_the_old_way(db, keys)
    # every kind holds records, all of them the old form now
    assert {name for name, _ in before} == set(KINDS)
    assert not any(
        crypto.opens_bound(secret, sealed, places)
        for sealed, places, secret in _records(db, keys).values()
    )
    totals = _reseal_all(db, keys, clock)
    for name in KINDS:
        resealed = sum(1 for kind, _ in before if kind == name)
        assert totals[name] == {reseal.RESEALED: resealed}, name
    assert _contents(db, keys) == before
    assert all(
        crypto.opens_bound(secret, sealed, places)
        for sealed, places, secret in _records(db, keys).values()
    )
    again = _reseal_all(db, keys, clock, size=500)
    assert all(set(counts) == {reseal.BOUND} for counts in again.values())
    assert _contents(db, keys) == before
    # and a re-sealed identity, moved onto another client's row, no longer opens there
    _move(db, Client, "identity_sealed", first.id, second.id)
    with pytest.raises(crypto.SealedElsewhere):
        clients.reveal_identity(db, db.get(Client, second.id), keys=keys)


def test_a_reseal_stopped_in_a_batch_loses_nothing_and_a_second_run_finishes(
    db, keys, clock, node_records, monkeypatch
):
    before = _contents(db, keys)
    _seal_the_old_way(db, keys)
    sealing, calls = crypto.seal_json, []

    def dies_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process stopped in the middle of a batch
        return sealing(*args, **kwargs)

    monkeypatch.setattr(crypto, "seal_json", dies_on_the_second)
    kind = KINDS["risk screen household members"]
    with pytest.raises(KeyboardInterrupt):
        after = 0
        while True:
            with db.begin_nested():  # one batch, one transaction
                batch = reseal.reseal_batch(db, kind, after=after, size=1, keys=keys, at=clock())
            if batch.last_id is None:
                break
            after = batch.last_id
    monkeypatch.setattr(crypto, "seal_json", sealing)
    db.expire_all()
    assert _contents(db, keys) == before  # nothing lost
    records = _records(db, keys)
    bound = [
        crypto.opens_bound(secret, sealed, places)
        for (name, _), (sealed, places, secret) in sorted(records.items())
        if name == kind.name
    ]
    assert bound == [True, False]  # the first batch kept, the stopped one undone
    assert db.exec(select(func.count()).select_from(RiskScreenPerson)).one() == 2
    totals = _reseal_all(db, keys, clock)
    assert totals[kind.name] == {reseal.BOUND: 1, reseal.RESEALED: 1}
    assert _contents(db, keys) == before


def test_a_record_moved_before_the_reseal_is_counted_and_left_as_it_is(
    db, keys, clock, node_records
):
    _, _, first, second = node_records
    _move(db, Client, "identity_sealed", first.id, second.id)  # bound: opens for no place
    totals = _reseal_all(db, keys, clock)
    assert totals["client identities"] == {reseal.BOUND: 1, reseal.ELSEWHERE: 1}
    with pytest.raises(crypto.SealedElsewhere):
        clients.reveal_identity(db, db.get(Client, second.id), keys=keys)
