"""The roster: signed by the coordinating agency, checked before use, the same on every node."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from portal.federation import membership
from portal.federation.roster import RosterConflict, RosterError, RosterSignatureError
from portal.models import Agency, AuditEntry, Node

from factories import agency as make_agency
from federation_helpers import AT, elsewhere, here, signed_roster, with_mou


def test_a_first_roster_is_taken_under_the_pinned_key_and_makes_rows_for_members_elsewhere(
    db, keys
):
    mine = make_agency(db, keys)
    coordinator = elsewhere("Coordinating CAC (synthetic)", kind="community")
    police = elsewhere("Police Unit (synthetic)", node="http://127.0.0.1:9102")
    data = signed_roster(coordinator, [coordinator.member, police.member, here(db, mine)])

    result = membership.import_roster(db, data, pin=coordinator.key_id, at=AT)

    assert (result.version, result.members, result.here) == (1, 3, 1)
    remote = db.exec(select(Agency).where(Agency.public_id == police.member.agency)).one()
    node = db.get(Node, remote.node_id)
    assert (node.base_url, node.is_local) == ("http://127.0.0.1:9102", False)
    assert membership.local_node_url(db) == "http://127.0.0.1:9100"
    assert membership.held(db)[1].coordinating_agency == coordinator.member.agency
    tags = db.exec(select(AuditEntry.tag).where(AuditEntry.agency_id.is_(None))).all()
    assert "federation:roster:imported" in tags


def test_a_first_roster_needs_the_coordinators_key_id(db, keys):
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    data = signed_roster(coordinator, [coordinator.member])
    with pytest.raises(RosterError, match="--coordinator-key"):
        membership.import_roster(db, data, pin=None, at=AT)


def test_a_pinned_key_of_another_agency_is_refused(db, keys):
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    other = elsewhere("Other (synthetic)")
    data = signed_roster(coordinator, [coordinator.member, other.member])
    with pytest.raises(RosterSignatureError, match="not a current key of the coordinating"):
        membership.import_roster(db, data, pin=other.key_id, at=AT)


def test_a_changed_byte_of_the_body_fails_the_signature_before_anything_is_applied(db, keys):
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    police = elsewhere("Police Unit (synthetic)")
    envelope = json.loads(signed_roster(coordinator, [coordinator.member, police.member]))
    envelope["roster"]["members"][1]["node"] = "http://127.0.0.1:6666"
    with pytest.raises(RosterSignatureError, match="bad signature"):
        membership.import_roster(db, json.dumps(envelope).encode(), pin=coordinator.key_id, at=AT)
    assert db.exec(select(Agency).where(Agency.public_id == police.member.agency)).first() is None


def test_the_next_roster_must_be_signed_by_the_coordinator_the_held_roster_names(db, keys):
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    impostor = elsewhere("Impostor (synthetic)")
    membership.import_roster(
        db, signed_roster(coordinator, [coordinator.member]), pin=coordinator.key_id, at=AT
    )
    # Signed by a key the held roster does not name as the coordinator's.
    forged = signed_roster(impostor, [impostor.member, coordinator.member], version=2)
    with pytest.raises(RosterSignatureError, match="not a key this node trusts"):
        membership.import_roster(db, forged, pin=None, at=AT)
    # The real coordinator's next version goes in without a pin.
    police = elsewhere("Police Unit (synthetic)")
    result = membership.import_roster(
        db,
        signed_roster(coordinator, [coordinator.member, police.member], version=2),
        pin=None,
        at=AT,
    )
    assert result.version == 2


def test_an_older_roster_cannot_replace_a_newer_one_and_the_same_one_is_no_change(db, keys):
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    second = signed_roster(coordinator, [coordinator.member], version=2)
    membership.import_roster(db, second, pin=coordinator.key_id, at=AT)
    assert membership.import_roster(db, second, pin=None, at=AT).unchanged
    with pytest.raises(RosterConflict, match="not newer"):
        membership.import_roster(
            db, signed_roster(coordinator, [coordinator.member], version=1), pin=None, at=AT
        )


def test_a_roster_listing_a_key_this_node_does_not_hold_for_its_own_agency_is_refused(db, keys):
    mine = make_agency(db, keys)
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    # Someone claims to be our agency with a key of their own.
    claim = elsewhere(mine.name)
    from dataclasses import replace

    import consent

    forged_member = replace(
        here(db, mine),
        keys=(
            replace(
                claim.member.keys[0],
                key_id=consent.key_id_for(mine.public_id, claim.signing_key.verify_key),
            ),
        ),
    )
    data = signed_roster(coordinator, [coordinator.member, forged_member])
    with pytest.raises(RosterConflict, match="does not hold it"):
        membership.import_roster(db, data, pin=coordinator.key_id, at=AT)


def test_a_member_dropped_from_the_roster_is_no_longer_active(db, keys):
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    police = elsewhere("Police Unit (synthetic)")
    membership.import_roster(
        db,
        signed_roster(coordinator, [coordinator.member, police.member]),
        pin=coordinator.key_id,
        at=AT,
    )
    membership.import_roster(
        db, signed_roster(coordinator, [coordinator.member], version=2), pin=None, at=AT
    )
    dropped = db.exec(select(Agency).where(Agency.public_id == police.member.agency)).one()
    assert not dropped.is_active


def test_the_coordinating_node_signs_the_next_version_with_its_own_agencies_keys(db, keys):
    coordinating = make_agency(db, keys)
    police = elsewhere("Police Unit (synthetic)")
    entries = membership.entries_json([police.member])

    signed = membership.sign_roster(
        db, coordinating, entries, node="http://127.0.0.1:9100/", keys=keys, at=AT
    )

    assert signed.roster.version == 1
    assert membership.held(db)[1].to_dict() == signed.roster.to_dict()
    assert signed.roster.member(coordinating.public_id).node == "http://127.0.0.1:9100"
    again = membership.sign_roster(
        db, coordinating, entries, node="http://127.0.0.1:9100", keys=keys, at=AT
    )
    assert again.roster.version == 2


def test_mou_reviews_due_within_sixty_days_or_past(db, keys):
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    soon = elsewhere("Soon (synthetic)")
    later = elsewhere("Later (synthetic)")
    past = elsewhere("Past (synthetic)")
    today = date(2026, 11, 2)
    members = [
        with_mou(coordinator.member, date(2026, 6, 1), date(2027, 6, 1)),
        with_mou(soon.member, date(2025, 12, 1), date(2026, 12, 1)),
        with_mou(later.member, date(2026, 3, 1), date(2027, 3, 1)),
        with_mou(past.member, date(2025, 10, 1), date(2026, 10, 1)),
    ]
    membership.import_roster(db, signed_roster(coordinator, members), pin=coordinator.key_id, at=AT)
    due = membership.mou_reviews_due(db, today=today)
    assert [(r.member.name, r.overdue) for r in due] == [
        ("Past (synthetic)", True),
        ("Soon (synthetic)", False),
    ]


def test_a_malformed_member_is_refused_with_where(db, keys):
    coordinator = elsewhere("Coordinating CAC (synthetic)")
    envelope = json.loads(signed_roster(coordinator, [coordinator.member]))
    with pytest.raises(RosterError, match="not valid JSON"):
        membership.import_roster(db, b"{not json", pin=coordinator.key_id, at=AT)
    envelope["signature"]["alg"] = "rsa"
    with pytest.raises(RosterError, match="expected ed25519"):
        membership.import_roster(db, json.dumps(envelope).encode(), pin=coordinator.key_id, at=AT)
