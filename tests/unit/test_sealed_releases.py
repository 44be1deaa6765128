"""Consent releases and their revocations sealed at rest for their row under the agency's
data key: no signer's name in any column, verified, disclosed and revoked as before; a
document moved onto another row opens nowhere and releases nothing; a revocation that does
not open still revokes; rows kept in clear before the seal keep working until `reseal`
seals them, once. Synthetic data only."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from disclosure_helpers import GUARDIAN, SIGNER, release, world, write
from sqlalchemy import update
from sqlmodel import select
from test_reseal import _reseal_all

from portal import crypto
from portal.disclosure import CONSENT_REVOKED, Released, Withheld, consent_gate, disclose
from portal.disclosure.sealed_releases import release_text, revocation_text
from portal.models import ConsentRelease, ReleaseRevocation, RestrictedPerson, Role
from portal.services import release_documents, releases, reseal, restricted_persons

import factories as make
from databases import counted

LATER = make.AT + timedelta(hours=1)
REASON = "Asked by her aunt, Dana Synthetic."


def _every_value(db, table) -> str:
    """Every column of every row of `table`, as a database reader or a backup sees them."""
    rows = db.exec(select(*table.__table__.columns)).all()
    return " ".join(str(value) for row in rows for value in row)


def _asking(w):
    return w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")


def _medical(db, keys, w, at=LATER):
    return disclose(db, _asking(w), w.case, w.owner, "medical", at, tz=UTC, keys=keys)


def _released_world(db, keys):
    """An owner's client (a minor: she and her guardian sign) whose release names the
    partner for her medical record."""
    w = world(db, keys, birth=make.MINOR_BIRTH)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    return w, release(db, keys, w, ["medical"])


def _in_clear(db, keys, row: ConsentRelease) -> None:
    """The release and its revocations as kept before documents were sealed."""
    for revocation in db.exec(
        select(ReleaseRevocation).where(ReleaseRevocation.release_id == row.id)
    ).all():
        text = revocation_text(db, revocation, row, keys=keys)
        reason = json.loads(text)["revocation"]["reason"]
        db.execute(
            update(ReleaseRevocation)
            .where(ReleaseRevocation.id == revocation.id)
            .values(document=text, document_sealed=None, data_key_id=None, reason=reason)
        )
    text = release_text(db, row, keys=keys)
    db.execute(
        update(ConsentRelease)
        .where(ConsentRelease.id == row.id)
        .values(document=text, document_sealed=None, data_key_id=None)
    )
    db.flush()
    db.expire_all()


def test_no_signers_name_nor_a_revocations_reason_is_kept_in_clear(db, keys):
    w, row = _released_world(db, keys)
    releases.revoke(db, row, reason=REASON, actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()
    stored = _every_value(db, ConsentRelease) + _every_value(db, ReleaseRevocation)
    for name in (SIGNER.name, GUARDIAN.name, "Dana Synthetic"):
        assert name not in stored, f"{name!r} is kept in clear"
    # and every reader still reads them
    document = releases.signed_document(db, db.get(ConsentRelease, row.id), keys=keys)
    assert (document.signer.name, document.second_signer.name) == (SIGNER.name, GUARDIAN.name)
    [revocation] = releases.revocations(db, row, keys=keys)
    assert revocation.reason == REASON


def test_a_sealed_release_verifies_discloses_and_revokes_as_before(db, keys):
    w, row = _released_world(db, keys)
    assert row.document == "" and row.document_sealed and row.data_key_id
    assert row.key_id != row.data_key_id  # the signing key stays apart
    assert isinstance(_medical(db, keys, w), Released)
    uploaded = release_documents.signed_envelope_bytes(db, row, keys=keys)
    report = release_documents.verify_upload(db, uploaded, keys=keys, at=LATER, tz=UTC)
    assert report.valid and report.revocations_known

    releases.revoke(db, row, reason=REASON, actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()
    after = LATER + timedelta(minutes=1)
    decision = _medical(db, keys, w, at=after)
    assert isinstance(decision, Withheld) and decision.gate == CONSENT_REVOKED
    report = release_documents.verify_upload(db, uploaded, keys=keys, at=after, tz=UTC)
    assert not report.valid and report.code == "revoked"
    status = releases.status_of(db, row, keys=keys, at=after)
    assert status.state.value == "revoked"


def test_a_sealed_document_moved_onto_another_release_opens_nowhere(db, keys):
    """A database writer, with no key, copies one release's sealed document (and its key
    id) onto another release row of the same client: it opens there as nothing, and the
    gate counts that row as no release (deny by default), never an error."""
    w, first = _released_world(db, keys)
    second = release(db, keys, w, ["safety_plan"])  # the row written over
    db.execute(
        update(ConsentRelease)
        .where(ConsentRelease.id == second.id)
        .values(document_sealed=first.document_sealed, data_key_id=first.data_key_id)
    )
    # and the first row's own document removed, so only the moved copy could release
    db.execute(
        update(ConsentRelease)
        .where(ConsentRelease.id == first.id)
        .values(document_sealed=b"B1" + bytes(60))
    )
    db.flush()
    db.expire_all()
    decision = _medical(db, keys, w)
    assert isinstance(decision, Withheld) and decision.gate != CONSENT_REVOKED
    for row_id in (first.id, second.id):
        with pytest.raises(crypto.SealedElsewhere):
            releases.signed_document(db, db.get(ConsentRelease, row_id), keys=keys)


def test_a_revocation_that_does_not_open_still_stops_its_release(db, keys):
    w, row = _released_world(db, keys)
    releases.revoke(db, row, reason=None, actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()
    db.execute(update(ReleaseRevocation).values(document_sealed=b"B1" + bytes(80)))
    db.flush()
    db.expire_all()
    after = LATER + timedelta(minutes=1)
    decision = _medical(db, keys, w, at=after)
    assert isinstance(decision, Withheld) and decision.gate == CONSENT_REVOKED
    assert releases.revoked_at(db, db.get(ConsentRelease, row.id), keys=keys, at=after)


def test_rows_kept_in_clear_work_until_reseal_seals_them_once(db, keys, clock):
    w, row = _released_world(db, keys)
    releases.revoke(db, row, reason=REASON, actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()
    after = LATER + timedelta(minutes=1)
    _in_clear(db, keys, row)
    assert SIGNER.name in _every_value(db, ConsentRelease)  # as before the migration
    decision = _medical(db, keys, w, at=after)
    assert isinstance(decision, Withheld) and decision.gate == CONSENT_REVOKED
    assert releases.revocations(db, row, keys=keys)[0].reason == REASON

    totals = _reseal_all(db, keys, clock)
    assert totals["consent releases"] == {reseal.SEALED: 1}
    assert totals["release revocations"] == {reseal.SEALED: 1}
    stored = _every_value(db, ConsentRelease) + _every_value(db, ReleaseRevocation)
    for name in (SIGNER.name, GUARDIAN.name, "Dana Synthetic"):
        assert name not in stored
    decision = _medical(db, keys, w, at=after)
    assert isinstance(decision, Withheld) and decision.gate == CONSENT_REVOKED
    before = LATER - timedelta(minutes=1)
    assert isinstance(_medical(db, keys, w, at=before), Released)  # before its revocation
    assert releases.revocations(db, row, keys=keys)[0].reason == REASON

    again = _reseal_all(db, keys, clock, size=500)
    assert again["consent releases"] == {reseal.BOUND: 1}
    assert again["release revocations"] == {reseal.BOUND: 1}


def test_a_release_saved_while_reseal_read_it_is_left_to_the_save(db, keys, clock):
    """Each row is written only if it still holds what the batch read."""
    _, row = _released_world(db, keys)
    _in_clear(db, keys, row)
    kind = next(k for k in reseal.KINDS if k.name == "consent releases")
    read = reseal._clear_values(db, kind, [row.id])
    db.execute(update(ConsentRelease).where(ConsentRelease.id == row.id).values(document="{}"))
    current = {}
    outcome = reseal._seal_clear(
        db, kind, row.id, row.agency_id, [row.client_id], read, current, keys=keys
    )
    assert outcome == reseal.CHANGED
    db.expire_all()
    assert db.get(ConsentRelease, row.id).document_sealed is None


def test_the_gate_opens_a_page_of_releases_in_a_constant_number_of_statements(db, keys):
    w, _ = _released_world(db, keys)
    for _ in range(4):
        release(db, keys, w, ["medical"])
    db.flush()
    owner_client = [(w.owner, w.client.id)]

    def statements() -> int:
        keys.forget([r.data_key_id for r in db.exec(select(ConsentRelease)).all()])
        with counted(db) as run:
            consent_gate.prefetch(
                db, owner_client, recipient=w.partner, at=LATER, keys=keys, cache={}
            )
        return len(run)

    five = statements()
    for _ in range(5):
        release(db, keys, w, ["medical"])
    db.flush()
    assert statements() == five  # ten releases: no statement more
    cache: dict = {}
    consent_gate.prefetch(db, owner_client, recipient=w.partner, at=LATER, keys=keys, cache=cache)
    assert len([c for c in cache[w.owner.id, w.client.id, w.partner.id, None] if c.release]) == 10


# --- persons who may never sign: their names sealed as the client's is ------------------


def _restricted(db, keys, w, name="Dana Suspect"):
    return restricted_persons.record_restricted_person(
        db,
        w.client,
        name=name,
        reason="other",
        note="Seen near her school (synthetic).",
        actor=w.owner_staff,
        keys=keys,
        at=make.AT,
    )


def test_a_restricted_person_kept_in_clear_counts_until_reseal_seals_it_once(db, keys, clock):
    w, _ = _released_world(db, keys)
    person = _restricted(db, keys, w)
    assert "Dana Suspect" not in _every_value(db, RestrictedPerson)
    db.execute(  # as kept before the seal
        update(RestrictedPerson)
        .where(RestrictedPerson.id == person.id)
        .values(name="Dana Suspect", note="Seen.", details_sealed=None, data_key_id=None)
    )
    db.flush()
    db.expire_all()
    assert set(restricted_persons.excluded_signers(db, w.client, keys=keys)) == {"Dana Suspect"}
    totals = _reseal_all(db, keys, clock)
    assert totals["restricted persons"] == {reseal.SEALED: 1}
    assert "Dana Suspect" not in _every_value(db, RestrictedPerson)
    [opened] = restricted_persons.in_force(db, w.client, keys=keys)
    assert (opened.name, opened.note) == ("Dana Suspect", "Seen.")
    assert _reseal_all(db, keys, clock)["restricted persons"] == {reseal.BOUND: 1}
    ended = restricted_persons.end_restriction(
        db, opened, reason="Order lifted for Dana.", actor=w.owner_staff, keys=keys, at=LATER
    )
    assert ended.end_reason == "Order lifted for Dana." and ended.name == "Dana Suspect"
    assert "Dana" not in _every_value(db, RestrictedPerson)


def test_a_restricted_persons_sealed_name_moved_onto_another_row_opens_nowhere(db, keys):
    w, _ = _released_world(db, keys)
    first = _restricted(db, keys, w)
    second = _restricted(db, keys, w, name="Lee Other")
    db.execute(
        update(RestrictedPerson)
        .where(RestrictedPerson.id == second.id)
        .values(details_sealed=first.details_sealed, data_key_id=first.data_key_id)
    )
    db.flush()
    db.expire_all()
    with pytest.raises(crypto.SealedElsewhere):
        restricted_persons.in_force(db, w.client, keys=keys)
