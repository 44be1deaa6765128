"""A participation voucher tells owners on other nodes that an agency serves a survivor on
a case: a disclosure of the coordinating agency's, entered in its log when it is given
and never when it is refused. Failed before: minting wrote nothing."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from portal.federation import vouchers
from portal.models import AuditEntry, Discipline, Role
from portal.requester import Requester
from portal.services import cases
from portal.web.audit_words import event_words

import factories as make


def _setup(db, keys):
    coordinator = make.agency(db, keys, name="Vouching CAC (synthetic)")
    shelter = make.agency(db, keys, discipline=Discipline.SHELTER)
    staff = make.user(db, shelter, Role.CASE_MANAGER)
    case = make.mdt_case(db, coordinator)
    survivor = make.client_record(db, shelter, keys)
    cases.link_client(db, case, shelter, survivor, actor=None, at=make.AT, confirmed=True)
    db.flush()
    asking = Requester.of(staff, shelter, frozenset({Role.CASE_MANAGER.value}))
    return coordinator, shelter, case, asking


def _count(db) -> int:
    return db.exec(select(func.count()).select_from(AuditEntry)).one()


def test_a_voucher_given_is_one_entry_in_the_coordinators_log(db, keys):
    coordinator, shelter, case, asking = _setup(db, keys)
    before = _count(db)
    voucher = vouchers.mint(
        db,
        case,
        shelter.public_id,
        coordinator=coordinator,
        asked_by=asking,
        keys=keys,
        at=make.AT,
    )
    db.flush()
    assert _count(db) == before + 1
    (entry,) = db.exec(
        select(AuditEntry).where(AuditEntry.tag == "mdt:case:participation_vouched")
    ).all()
    assert entry.agency_id == coordinator.id
    assert (entry.actor_agency_ref, entry.actor_user_ref) == (shelter.public_id, asking.user)
    assert (entry.case_ref, entry.subject, entry.decision) == (
        case.reference,
        case.reference,
        "released",
    )
    assert json.loads(entry.detail) == {
        "agency": shelter.public_id,
        "until": voucher["claim"]["until"],
    }
    # The lead reads it in words (the audit page's event column).
    assert ":" not in event_words(entry.tag) and "vouched" in event_words(entry.tag)


def test_a_voucher_refused_writes_nothing(db, keys):
    coordinator, _shelter, case, _asking = _setup(db, keys)
    outsider = make.agency(db, keys)  # on no case
    asking = Requester.of(
        make.user(db, outsider, Role.CASE_MANAGER), outsider, frozenset({"case_manager"})
    )
    before = _count(db)
    with pytest.raises(vouchers.NotVouched):
        vouchers.mint(
            db,
            case,
            outsider.public_id,
            coordinator=coordinator,
            asked_by=asking,
            keys=keys,
            at=make.AT,
        )
    db.flush()
    assert _count(db) == before
