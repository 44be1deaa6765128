"""A link confirmed on the owner's node at the coordinator's request (federation
`case-links`) lapses with the release it was confirmed under, as a link confirmed from the
owner's own side does (issue 14): once the survivor revokes their agreement to join, the
owner's point tells partners nothing more of that client."""

from dataclasses import replace
from datetime import UTC, timedelta
from types import SimpleNamespace

from disclosure_helpers import SECRET_NOTE, World, release, write

from portal.disclosure import disclose
from portal.federation import owner as owner_side
from portal.federation import wire
from portal.models import Discipline, Role
from portal.requester import Requester
from portal.services import cases, casework, releases

import factories as make
from federation_helpers import coordinator_elsewhere

LATER = make.AT + timedelta(hours=1)
NODE = "http://coordinator.test"


def _setup(db, keys):
    owner = make.agency(db, keys, discipline=Discipline.HEALTH)
    coordinator = make.agency(db, keys)
    partner = make.agency(db, keys)
    client = make.client_record(db, owner, keys)
    partner_client = make.client_record(db, partner, keys)
    case = make.mdt_case(db, coordinator)
    cases.link_client(db, case, partner, partner_client, actor=None, at=make.AT, confirmed=True)
    owner_staff = make.user(db, owner, Role.CLINICIAN)
    partner_staff = make.user(db, partner, Role.CASE_MANAGER)
    w = World(owner, partner, client, partner_client, case, owner_staff, partner_staff)
    write(db, keys, w, "medical", {"exam_done": "completed", "follow_up": SECRET_NOTE})
    # The survivor's agreement to join the case: names the coordinating agency.
    joining = release(db, keys, w, ["medical"], recipients=[coordinator.public_id])
    # A release of the medical section to the partner, still in effect throughout.
    release(db, keys, w, ["medical"], recipients=[partner.public_id])
    return w, coordinator, joining


def _revoke(db, keys, w, row):
    releases.revoke(db, row, reason="the client asked", actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()


def _partner_reads(db, keys, w, at):
    viewer = Requester.of(w.partner_staff, w.partner, frozenset({Role.CASE_MANAGER.value}))
    return disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", at, tz=UTC, keys=keys
    )


def _assert_lapses_with(db, keys, w, joining) -> None:
    """The partner reads the medical section until the joining release is revoked."""
    assert _partner_reads(db, keys, w, LATER).decision == "released"
    _revoke(db, keys, w, joining)
    later = LATER + timedelta(minutes=1)
    decision = _partner_reads(db, keys, w, later)
    assert decision.decision == "withheld", decision


def test_a_link_confirmed_from_the_owners_side_lapses_with_its_release(db, keys):
    """The control: the local path (casework.confirm_link) records the joining release."""
    w, _coordinator, joining = _setup(db, keys)
    cases.link_client(db, w.case, w.owner, None, actor=None, at=make.AT)
    casework.confirm_link(
        db,
        w.case,
        w.owner,
        client_reference=w.client.reference,
        actor=w.owner_staff,
        at=make.AT,
        keys=keys,
    )
    db.flush()
    _assert_lapses_with(db, keys, w, joining)


def test_a_link_confirmed_at_the_coordinators_request_lapses_with_its_release(db, keys):
    w, coordinator, joining = _setup(db, keys)
    asking = coordinator_elsewhere(NODE, coordinator)
    caller = SimpleNamespace(
        member=SimpleNamespace(
            agency=coordinator.public_id, node=NODE, kind=coordinator.kind, name="coordinator"
        )
    )
    answered = owner_side.case_link(
        db,
        caller,
        {
            "requester": wire.requester_dict(replace(asking, node=NODE)),
            "owner": w.owner.public_id,
            "client": w.client.reference,
            "case": {"reference": w.case.reference, "intake_date": "2026-10-20"},
            "participants": [],
        },
        at=make.AT,
        keys=keys,
    )
    assert answered.payload["confirmed"] is True
    db.flush()
    _assert_lapses_with(db, keys, w, joining)
