"""The consent gate at its edges: what it tells, and what it counts, must be what the
signed documents say, never a column copied from them. Synthetic data only."""

from datetime import UTC, timedelta

from disclosure_helpers import release, world, write
from sqlmodel import select

from portal.disclosure import CONSENT_REVOKED, NO_CONSENT, disclose
from portal.disclosure.sealed_releases import revocation_text
from portal.models import ReleaseRecipient, ReleaseRevocation, Role
from portal.placeholders import sentence
from portal.services import releases

import factories as make

LATER = make.AT + timedelta(hours=1)


def test_a_recipient_row_the_signed_release_does_not_name_tells_no_revocation(db, keys):
    # The release names another agency only; a recipient row for the partner (a copy a
    # database writer could add) made the gate find it, and the partner's placeholder said
    # the survivor revoked it, and when: a fact of a release that never named the partner.
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    elsewhere = make.agency(db, keys)
    row = release(db, keys, w, ["medical"], recipients=[elsewhere.public_id])
    db.add(ReleaseRecipient(release_id=row.id, agency_id=w.partner.id))
    releases.revoke(db, row, reason=None, actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()
    viewer = w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")
    at = LATER + timedelta(seconds=1)
    withheld = disclose(db, viewer, w.case, w.owner, "medical", at, tz=UTC, keys=keys)
    assert withheld.gate == NO_CONSENT
    assert withheld.why.release_status is None
    assert "revoked" not in sentence(withheld.why)


def test_a_revocation_row_holding_another_releases_revocation_still_revokes(db, keys):
    # A revocation kept in clear (written before documents were sealed) whose document was
    # swapped for another release's genuine revocation: it verified, named the other
    # release, and so revoked nothing here; the release it is on record for was shared
    # again. A revocation on record that does not verify as this release's still revokes.
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    kept = release(db, keys, w, ["medical"])
    other = release(db, keys, w, ["safety_plan"])
    for row in (kept, other):
        releases.revoke(db, row, reason=None, actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()

    def revocation_of(row):
        return db.exec(
            select(ReleaseRevocation).where(ReleaseRevocation.release_id == row.id)
        ).one()

    moved = revocation_text(db, revocation_of(other), other, keys=keys)
    on_record = revocation_of(kept)
    on_record.document, on_record.document_sealed, on_record.data_key_id = moved, None, None
    db.add(on_record)
    db.flush()
    viewer = w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")
    at = LATER + timedelta(seconds=1)
    withheld = disclose(db, viewer, w.case, w.owner, "medical", at, tz=UTC, keys=keys)
    assert withheld.gate == CONSENT_REVOKED
    assert releases.status_of(db, kept, keys=keys, at=at).state == "revoked"
