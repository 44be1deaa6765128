"""Issue 14 through HTTP, from the other side: an agency whose own survivor revoked the
release that joined it to the case reads nothing more of the other owners (as owners on
other nodes, whom the coordinating agency no longer vouches for it to)."""

from __future__ import annotations

from sqlmodel import select

from portal.models import AuditEntry, Role
from portal.services import releases

import factories as make
from team_helpers import DECISION_NOTE, Team


def test_a_partner_whose_joining_release_is_revoked_no_longer_reads_mdt_decisions(
    client, db, keys, clock
):
    team = Team(db, keys)
    team.decision(db)
    clinic = make.agency(db, keys, name="Clinic D (synthetic)")
    staff = make.user(db, clinic, Role.CLINICIAN, Role.ADVOCATE)
    _survivor, joined, _link = team.joined(db, keys, clinic, staff, [team.coordinator])
    for agency in (team.a, team.b, team.r):  # every other survivor releases them to D
        team.release(db, keys, agency, [clinic])
    db.flush()
    make.login(client, staff.username)
    case_page = f"/cases/{team.case.public_id}"
    assert DECISION_NOTE in client.get(case_page).text

    releases.revoke(db, joined, reason="synthetic", actor=staff, keys=keys, at=make.AT)
    db.flush()
    # The next request, a moment later: a revocation takes effect after every disclosure
    # already logged under its release (`audit.revoked`), here at the same instant.
    clock.advance(seconds=1)
    page = client.get(case_page)
    assert page.status_code == 200
    assert DECISION_NOTE not in page.text
    refused = db.exec(
        select(AuditEntry)
        .where(
            AuditEntry.agency_id == team.coordinator.id,
            AuditEntry.section_key == "mdt_decisions",
            AuditEntry.actor_agency_ref == clinic.public_id,
        )
        .order_by(AuditEntry.id.desc())
    ).first()
    assert (refused.decision, refused.gate) == ("withheld", "not_linked")
