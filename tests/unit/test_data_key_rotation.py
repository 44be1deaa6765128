"""An agency's data key rotated: what its staff save from then on is sealed under the new
key, everything sealed before still opens and is still found, and `reseal` moves it onto
the new key unchanged, once. Synthetic data only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select
from test_reseal import KINDS, _contents, _records, _reseal_all, node_records  # noqa: F401
from test_sealed_places import two  # noqa: F401 - a fixture

from portal.audit import AuditTag
from portal.errors import Conflict
from portal.models import AgencyKey, AuditEntry, KeyPurpose, Role
from portal.requester import Requester
from portal.services import clients, reseal, sections
from portal.services import keys as agency_keys
from portal.services.keys import current_key


def _key_ids(db) -> set[str]:
    """The data keys every sealed record names."""
    return {row[2] for kind in reseal.KINDS for row in db.exec(kind.rows()).all()}


def _rotate(db, agency, keys, clock):
    return agency_keys.rotate_data_key(db, agency, keys=keys, actor=None, at=clock())


def test_after_a_rotation_saves_seal_under_the_new_key_and_the_old_records_still_open(
    db,
    keys,
    clock,
    node_records,  # noqa: F811
):
    agency, staff, first, _ = node_records
    before = _contents(db, keys)
    old = current_key(db, agency.id, KeyPurpose.DATA)
    new = _rotate(db, agency, keys, clock)
    assert new.key_id != old.key_id
    assert current_key(db, agency.id, KeyPurpose.DATA).key_id == new.key_id
    db.refresh(old)
    assert old.retired_at is not None
    keys.forget([old.key_id, new.key_id])  # as another process, which never held them
    assert _contents(db, keys) == before
    saved = sections.save_section(
        db,
        first,
        "safety_plan",
        {"safe_places": "SYNTHETIC PARK"},
        actor=staff,
        keys=keys,
        at=clock() + timedelta(minutes=1),
    )
    assert saved.key_id == new.key_id
    entry = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id, AuditEntry.tag == AuditTag.KEY_ROTATED
        )
    ).one()
    assert entry.subject == new.key_id
    assert '"purpose":"data"' in entry.detail and old.key_id in entry.detail


def test_a_client_registered_before_a_rotation_is_still_found_and_not_registered_twice(
    db,
    keys,
    clock,
    two,  # noqa: F811
):
    agency, staff, first, _ = two
    _rotate(db, agency, keys, clock)
    identity = clients.reveal_identity(db, first, keys=keys)
    found = clients.find_clients(
        db,
        agency,
        given_name=identity.given_name,
        family_name=identity.family_name,
        birth_date=identity.birth_date,
        keys=keys,
    )
    assert [client.id for client in found] == [first.id]
    with pytest.raises(Conflict):
        clients.register_new(
            db,
            agency,
            identity,
            requester=Requester.of(staff, agency, [Role.ADVOCATE]),
            reference="R-AGAIN",
            preferred_language="en",
            actor=staff,
            keys=keys,
            at=clock(),
        )


def test_reseal_moves_every_record_onto_the_current_key_unchanged_and_once(
    db,
    keys,
    clock,
    node_records,  # noqa: F811
):
    agency, _, first, _ = node_records
    before = _contents(db, keys)
    counted = {name: sum(1 for kind, _ in before if kind == name) for name in KINDS}
    old = current_key(db, agency.id, KeyPurpose.DATA).key_id
    new = _rotate(db, agency, keys, clock).key_id
    assert _key_ids(db) == {old}
    totals = _reseal_all(db, keys, clock)
    assert totals == {name: {reseal.REKEYED: count} for name, count in counted.items()}
    assert _key_ids(db) == {new}
    assert _contents(db, keys) == before
    assert all(
        agency_keys.crypto.opens_bound(secret, sealed, places)
        for sealed, places, secret in _records(db, keys).values()
    )
    # found by name under the new key's digest alone
    identity = clients.reveal_identity(db, first, keys=keys)
    retired = db.exec(select(AgencyKey).where(AgencyKey.key_id == old)).one()
    db.delete(retired)  # what `keys data` says is safe: it seals nothing now
    db.flush()
    keys.forget([old])
    assert [c.id for c in clients.find_clients(db, agency, **_named(identity), keys=keys)] == [
        first.id
    ]
    again = _reseal_all(db, keys, clock, size=500)
    assert all(set(counts) == {reseal.BOUND} for counts in again.values())


def test_keys_data_counts_what_each_key_still_seals(db, keys, clock, node_records):  # noqa: F811
    agency, *_ = node_records
    records = len(_records(db, keys))
    old = current_key(db, agency.id, KeyPurpose.DATA).key_id
    new = _rotate(db, agency, keys, clock).key_id
    uses = {use.key.key_id: use.records for use in reseal.data_key_uses(db) if use.agency == agency}
    assert uses == {old: records, new: 0}
    _reseal_all(db, keys, clock)
    uses = {use.key.key_id: use.records for use in reseal.data_key_uses(db) if use.agency == agency}
    assert uses == {old: 0, new: records}


def _named(identity) -> dict:
    return {
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "birth_date": date.fromisoformat(str(identity.birth_date)),
    }
