"""The disclosure point decides only for agencies this node hosts, and only for requesters
that are on the case: each test is named after what should happen and failed on the code
as a review found it."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from disclosure_helpers import SECRET_NOTE, release, world, write
from sqlmodel import func, select

from portal.disclosure import RequestCache, answer, disclose
from portal.disclosure.point import OwnerElsewhere, told_to_agency
from portal.models import AgencyKind, AuditEntry, Node, Role

import factories as make

LATER = make.AT + timedelta(hours=1)


def _entries(db) -> int:
    return db.exec(select(func.count()).select_from(AuditEntry)).one()


def _hosted_elsewhere(db, agency) -> None:
    """The roster now places `agency` on another node; this node still holds rows of it."""
    node = Node(
        name="http://elsewhere.test",
        base_url="http://elsewhere.test",
        is_local=False,
        created_at=make.AT,
    )
    db.add(node)
    db.flush()
    agency.node_id = node.id
    db.add(agency)
    db.flush()


def test_the_point_refuses_to_answer_for_an_owner_hosted_on_another_node(db, keys):
    """Before: answer() decided for any owner it was handed, reading this node's copy of
    its records and releases and writing its decision (here a release of its medical
    section) into the log this node keeps for it, which is not its log."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical"])
    asking = w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")
    shown = disclose(db, asking, w.case, w.owner, "medical", LATER, tz=UTC, keys=keys)
    assert shown.decision == "released"  # the control: hosted here, it is released
    _hosted_elsewhere(db, w.owner)
    db.expire_all()  # a new request: nothing read before is remembered
    before = _entries(db)

    with pytest.raises(OwnerElsewhere):
        disclose(db, asking, w.case, w.owner, "medical", LATER, tz=UTC, keys=keys)
    with pytest.raises(OwnerElsewhere):
        answer(
            db,
            asking,
            w.case,
            w.owner,
            ["medical"],
            at=LATER,
            tz=UTC,
            keys=keys,
            cache=RequestCache(),
        )
    assert _entries(db) == before, "a decision for an owner elsewhere was written here"


def test_the_point_tells_nothing_of_a_holder_hosted_on_another_node(db, keys):
    """`told_to_agency` decides in the holder's log whether a system-based agency may be
    told the holder takes part: never for a holder another node hosts."""
    w = world(db, keys)
    welfare = make.agency(db, keys, kind=AgencyKind.SYSTEM)
    _hosted_elsewhere(db, w.owner)
    db.expire_all()
    before = _entries(db)
    with pytest.raises(OwnerElsewhere):
        told_to_agency(db, w.case, w.owner, welfare, asked_by=w.viewer(), at=LATER)
    assert _entries(db) == before
