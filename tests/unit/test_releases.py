"""Releases in the portal: draft, sign with the agency key, verify, revoke."""

import json
from datetime import timedelta

import pytest
from sqlmodel import select

import consent
from portal.disclosure.sealed_releases import release_text
from portal.errors import Conflict, Invalid
from portal.models import AgencyKind, ReleaseRecipient, RestrictedPerson, Role
from portal.services import releases

import factories as make

SIGNER = consent.Signer("Robin Example", consent.Capacity.SELF)


def _draft(db, keys, **changes):
    owner = make.agency(db, keys)
    recipient = make.agency(db, keys, kind=AgencyKind.SYSTEM)
    client = make.client_record(db, owner, keys)
    witness = make.user(db, owner, Role.ADVOCATE)
    values = dict(
        recipients=[recipient.public_id],
        sections=["safety_plan", "needs_assessment"],
        purpose="mdt_case_review",
        effective_at=make.AT,
        expiry=consent.DateExpiry(make.AT + timedelta(days=90)),
        keys=keys,
        language="en",
        actor=witness,
        at=make.AT,
    )
    values.update(changes)
    return owner, recipient, client, witness, releases.draft_release(db, client, **values)


def test_draft_sign_verify_and_status(db, keys):
    _, recipient, _, witness, row = _draft(db, keys)
    signed = releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=make.AT,
    )
    db.flush()
    envelope = json.loads(release_text(db, row, keys=keys))
    assert envelope == signed.to_dict()
    verdict = consent.verify(envelope, releases.keyring(db), at=make.AT)
    assert verdict.ok, verdict.reason
    status = releases.status_of(db, row, at=make.AT + timedelta(days=1), keys=keys)
    assert status.state == consent.ReleaseState.ACTIVE
    recipients = db.exec(
        select(ReleaseRecipient.agency_id).where(ReleaseRecipient.release_id == row.id)
    ).all()
    assert recipients == [recipient.id]
    with pytest.raises(Conflict):
        releases.sign(
            db,
            row,
            signer=SIGNER,
            second_signer=None,
            method=consent.SignatureMethod.TYPED,
            actor=witness,
            keys=keys,
            at=make.AT,
        )


def test_draft_names_every_problem(db, keys):
    with pytest.raises(Invalid) as caught:
        _draft(
            db,
            keys,
            recipients=[],
            sections=["astrology"],
            expiry=consent.DateExpiry(make.AT - timedelta(days=1)),
        )
    assert {"recipients", "sections", "expiry"} <= set(caught.value.errors)


def test_revocation_takes_effect_at_once(db, keys):
    _, _, _, witness, row = _draft(db, keys)
    releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=None,
        method=consent.SignatureMethod.PAPER,
        actor=witness,
        keys=keys,
        at=make.AT,
    )
    later = make.AT + timedelta(days=3)
    releases.revoke(db, row, reason="client asked", actor=witness, keys=keys, at=later)
    db.flush()
    assert releases.status_of(db, row, at=later, keys=keys).state == consent.ReleaseState.REVOKED
    assert releases.status_of(db, row, at=later - timedelta(seconds=1), keys=keys).state == "active"
    with pytest.raises(Conflict):
        releases.revoke(db, row, reason=None, actor=witness, keys=keys, at=later)


@pytest.mark.parametrize(
    ("typed", "capacity"),
    [
        ("dana  SUSPECT", consent.Capacity.PARENT),
        # A zero-width space after "Dana": the same name on the screen and on paper.
        ("Dana\u200b Suspect", consent.Capacity.LEGAL_GUARDIAN),
    ],
)
def test_restricted_person_can_never_sign(db, keys, typed, capacity):
    _, _, client, witness, row = _draft(db, keys)
    db.add(
        RestrictedPerson(
            client_id=client.id,
            name="Dana Suspect",
            reason="suspected_exploiter",
            created_at=make.AT,
        )
    )
    db.flush()
    with pytest.raises(Invalid) as caught:
        releases.sign(
            db,
            row,
            signer=consent.Signer(typed, capacity),
            second_signer=None,
            method=consent.SignatureMethod.TYPED,
            actor=witness,
            keys=keys,
            at=make.AT,
        )
    assert "can never sign" in caught.value.errors["signer"]
    assert row.state == "draft"
