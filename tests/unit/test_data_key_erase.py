"""A retired data key that seals nothing any more, erased: its row gone, the erasure in the
agency's log, every record and search still as before. Refused for the current key, a key
that is not one of the agency's data keys, and a key that still seals any record of any
kind `reseal` knows. Synthetic data only."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import select
from test_reseal import KINDS, _contents, _reseal_all, node_records  # noqa: F401
from test_sealed_places import two  # noqa: F401 - a fixture

from portal.audit import AuditTag, verify
from portal.crypto import KeyWrapper, SealedElsewhere
from portal.disclosure import content
from portal.disclosure.sources import SourceCache
from portal.errors import Invalid
from portal.models import AgencyKey, AuditEntry, KeyPurpose, SectionEntry
from portal.sections import catalogue
from portal.services import clients, reseal
from portal.services import keys as agency_keys
from portal.services.keys import current_key

import factories as make


def _rotated_and_resealed(db, keys, clock, agency):
    """The agency's first data key, retired, and every record moved off it."""
    old = current_key(db, agency.id, KeyPurpose.DATA)
    agency_keys.rotate_data_key(db, agency, keys=keys, actor=None, at=clock())
    _reseal_all(db, keys, clock)
    return old.key_id


def _erase(db, agency, key_id, keys, clock):
    reseal.erase_data_key(db, agency, key_id, keys=keys, actor=None, at=clock())


def test_a_retired_key_that_seals_nothing_is_erased_and_everything_still_opens(
    db,
    keys,
    clock,
    node_records,  # noqa: F811
):
    agency, _, first, second = node_records
    before = _contents(db, keys)
    old = _rotated_and_resealed(db, keys, clock, agency)
    [use] = [u for u in reseal.data_key_uses(db) if u.key.key_id == old]
    assert use.erasable and use.records == 0
    assert not next(u for u in reseal.data_key_uses(db) if u.key.retired_at is None).erasable

    _erase(db, agency, old, keys, clock)

    assert db.exec(select(AgencyKey).where(AgencyKey.key_id == old)).first() is None
    assert not keys.holds(old)
    assert old not in {u.key.key_id for u in reseal.data_key_uses(db)}
    keys.forget([current_key(db, agency.id, KeyPurpose.DATA).key_id])  # as a new process
    assert _contents(db, keys) == before
    for person in (first, second):  # the search index still finds every client
        identity = clients.reveal_identity(db, person, keys=keys)
        found = clients.find_clients(
            db,
            agency,
            given_name=identity.given_name,
            family_name=identity.family_name,
            birth_date=identity.birth_date,
            keys=keys,
        )
        assert [c.id for c in found] == [person.id]
    entry = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id, AuditEntry.tag == AuditTag.KEY_ERASED
        )
    ).one()
    assert entry.subject == old and '"purpose":"data"' in entry.detail
    assert verify.verify_log(db, agency.public_id).ok


@pytest.mark.parametrize("kind", [kind.name for kind in reseal.KINDS])
def test_a_key_that_still_seals_one_record_of_any_kind_is_not_erased(
    db,
    keys,
    clock,
    node_records,  # noqa: F811
    kind,
):
    agency, *_ = node_records
    old = _rotated_and_resealed(db, keys, clock, agency)
    table = KINDS[kind].table
    one = db.exec(select(table.id).order_by(table.id)).first()
    # a row still naming the retired key: what a reseal would have left (or a restore)
    db.execute(update(table).where(table.id == one).values({KINDS[kind].key_column: old}))
    db.expire_all()
    assert [u.records for u in reseal.data_key_uses(db) if u.key.key_id == old] == [1]
    with pytest.raises(reseal.KeyStillNeeded) as refused:
        _erase(db, agency, old, keys, clock)
    assert str(refused.value) == (
        f"{old} still seals 1 record ({kind} 1): run `portal keys reseal` to seal them under "
        "the current key, then this again"
    )
    assert db.exec(select(AgencyKey).where(AgencyKey.key_id == old)).first() is not None


def test_the_current_key_a_signing_key_another_agencys_key_and_no_key_are_refused(
    db,
    keys,
    clock,
    two,  # noqa: F811
):
    agency, *_ = two
    other = make.agency(db, keys, name="Other Agency (synthetic)")
    current = current_key(db, agency.id, KeyPurpose.DATA).key_id
    with pytest.raises(reseal.KeyStillNeeded) as refused:
        _erase(db, agency, current, keys, clock)
    assert str(refused.value) == (
        f"{current} is {agency.name}'s current data key, which seals what its staff save: "
        "run `portal keys rotate-data` and `portal keys reseal` first"
    )
    theirs = current_key(db, other.id, KeyPurpose.DATA)
    agency_keys.rotate_data_key(db, other, keys=keys, actor=None, at=clock())
    signing = current_key(db, agency.id, KeyPurpose.SIGNING).key_id
    for key_id in (theirs.key_id, signing, "no-such-key"):
        with pytest.raises(Invalid) as refused:
            _erase(db, agency, key_id, keys, clock)
        assert refused.value.errors == {
            "key": f"{key_id} is not a data key of {agency.name}; `portal keys data` lists its keys"
        }
    assert len(db.exec(select(AgencyKey)).all()) == 5  # two agencies' keys, one rotated


class _Ticks:
    """A process's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _safety_plan(db, keys, agency, person) -> dict:
    loaded = content.load(
        db,
        owner_id=agency.id,
        client_id=person.id,
        section=catalogue().get("safety_plan"),
        keys=keys,
        cache=SourceCache(),
    )
    return {row.label: row.value for row in loaded.rows}


def test_a_key_another_process_erased_opens_nothing_here_once_asked_again(
    db,
    keys,
    clock,
    node_secrets,
    node_records,  # noqa: F811
):
    """This process (`here`) holds the agency's first data key unwrapped, from a page it
    served. Another (`keys`: the operator's `portal keys erase-data`) rotates, reseals and
    erases it; then a backup's copy of a record sealed under it is put back into the
    database. Within `confirm_seconds` this process asks whether its keys still exist,
    forgets the erased one, and the record is withheld as unreadable."""
    agency, _, first, _ = node_records
    ticks = _Ticks()
    here = KeyWrapper(node_secrets.kek_bytes(), confirm_seconds=10, clock=ticks)
    assert "SYNTHETIC LIBRARY" in _safety_plan(db, here, agency, first).values()
    entry = db.exec(
        select(SectionEntry).where(
            SectionEntry.client_id == first.id, SectionEntry.section_key == "safety_plan"
        )
    ).one()
    backup = (entry.key_id, bytes(entry.content_sealed))
    assert here.holds(backup[0])

    old = _rotated_and_resealed(db, keys, clock, agency)
    _erase(db, agency, old, keys, clock)
    assert old == backup[0] and not keys.holds(old)
    db.execute(
        update(SectionEntry)
        .where(SectionEntry.id == entry.id)
        .values(key_id=backup[0], content_sealed=backup[1])
    )
    db.expire_all()

    ticks.now = 10.0
    with pytest.raises(SealedElsewhere):
        _safety_plan(db, here, agency, first)
    assert not here.holds(old)
    # A process started after the erasure never held it: the same answer.
    fresh = KeyWrapper(node_secrets.kek_bytes())
    with pytest.raises(SealedElsewhere):
        _safety_plan(db, fresh, agency, first)


def test_held_keys_are_asked_after_confirm_seconds_and_only_the_missing_forgotten(
    node_secrets,
):
    ticks = _Ticks()
    here = KeyWrapper(node_secrets.kek_bytes(), confirm_seconds=10, clock=ticks)
    for key_id, agency_id in (("a-data-1", 1), ("b-data-1", 2)):
        here.unwrap_key(key_id, agency_id, here.wrap(key_id.encode().ljust(32, b"-")))
    ticks.now = 9.9
    assert here.due_for_confirmation() == []
    ticks.now = 10.0
    asked = here.due_for_confirmation()
    assert asked == ["a-data-1", "b-data-1"]
    here.unwrap_key("c-data-1", 3, here.wrap(b"c".ljust(32, b"-")))  # meanwhile, another page
    here.confirmed(asked, ["b-data-1"])
    assert [here.holds(k) for k in ("a-data-1", "b-data-1", "c-data-1")] == [False, True, True]
    assert here.due_for_confirmation() == []  # asked again 10 s from the answer
    ticks.now = 20.0
    assert here.due_for_confirmation() == ["b-data-1", "c-data-1"]
