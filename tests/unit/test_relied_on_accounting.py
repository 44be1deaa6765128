"""An MDT record released under the releases of survivors other agencies serve: each such
agency's log names its own survivor and the release (or legal basis) it relied on, so the
survivor's accounting of disclosures there lists who received the record."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

from sqlmodel import select

from portal.audit import AuditTag, chain
from portal.audit.verify import verify_all
from portal.disclosure import Released, Withheld
from portal.models import AuditEntry, Role
from portal.services import audit_figures, audit_log, case_records, legal_bases

import factories as make
from team_helpers import Team

LATER = make.AT + timedelta(hours=1)
CITATION = "Synthetic State Code 39.202(5) (example)"


def _decisions(db, keys, team, agency):
    return case_records.case_decisions(
        db, team.requester(agency), team.case, at=LATER, tz=UTC, keys=keys
    )


def _relied(db, agency):
    return db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.tag == AuditTag.DISCLOSURE_RELIED_ON.value,
        )
    ).all()


def _accounting(db, team, agency):
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    return audit_log.accounting(
        db, agency, team.clients[agency.id].public_id, actor=lead, at=LATER + timedelta(hours=1)
    )


def test_each_survivors_agency_accounts_for_the_coordinators_record_released_on_its_release(
    db, keys, monkeypatch
):
    team = Team(db, keys)
    team.decision(db)
    clinics = team.release(db, keys, team.a, [team.r])
    shelters = team.release(db, keys, team.b, [team.r])
    batches = []
    append_many = chain.append_many

    def appended(db_, rows):
        batches.append([(row["agency_id"], row["tag"]) for row in rows])
        return append_many(db_, rows)

    monkeypatch.setattr(chain, "append_many", appended)
    assert isinstance(_decisions(db, keys, team, team.r), Released)
    monkeypatch.undo()

    for agency, release in ((team.a, clinics), (team.b, shelters)):
        accounting = _accounting(db, team, agency)
        (row,) = accounting.rows
        entry = row.entry
        # Who received what, when, under which of this survivor's releases: as the
        # coordinator's entry has them, and never the record's content.
        assert row.actor_agency_name == team.r.name
        assert entry.actor_user_ref == team.staff[team.r.id].public_id
        assert (entry.case_ref, entry.section_key) == (team.case.reference, "mdt_decisions")
        assert entry.at == LATER and entry.purpose == "mdt_case_review"
        assert entry.release_ref == release.public_id
        assert accounting.releases[release.public_id].signed_at is not None
        assert entry.tag == AuditTag.DISCLOSURE_RELIED_ON
        assert json.loads(entry.detail)["owner"] == team.coordinator.public_id
        assert "SYNTHETIC" not in entry.detail
    # The owner's own entry is as it was; R's own survivor's release was not asked.
    (owners,) = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == team.coordinator.id,
            AuditEntry.tag == AuditTag.DISCLOSURE_RELEASED.value,
        )
    ).all()
    assert owners.section_key == "mdt_decisions" and owners.client_ref is None
    assert not _relied(db, team.r) and not _relied(db, team.coordinator)
    # In the very batch the owner's entry went in (one append, one transaction).
    (batch,) = [b for b in batches if (team.coordinator.id, AuditTag.DISCLOSURE_RELEASED) in b]
    assert (team.a.id, AuditTag.DISCLOSURE_RELIED_ON) in batch
    assert (team.b.id, AuditTag.DISCLOSURE_RELIED_ON) in batch
    # Not A's own release of anything: its lead's weekly figures count none to R.
    assert audit_figures.lead_figures(db, team.a, today=LATER.date(), tz=UTC).partners == []
    # The new entries chain like any other, and every log still verifies.
    assert all(report.ok for report in verify_all(db)), [r.line() for r in verify_all(db)]


def test_a_record_withheld_rests_on_no_release_and_is_in_no_accounting(db, keys):
    team = Team(db, keys)
    team.decision(db)
    team.release(db, keys, team.a, [team.r])  # B's survivor has released nothing to R
    assert isinstance(_decisions(db, keys, team, team.r), Withheld)
    # Only the owner's log has the refusal, as it has every refusal.
    assert not _relied(db, team.a) and not _relied(db, team.b)
    assert _accounting(db, team, team.a).rows == []


def test_a_legal_basis_relied_on_is_accounted_for_as_the_basis(db, keys):
    """R's survivor is covered by R's signed basis, not a release: R's accounting lists the
    coordinator's decisions as shared under that basis."""
    team = Team(db, keys)
    team.decision(db)
    team.release(db, keys, team.a, [team.b])
    basis = legal_bases.record_basis(
        db,
        team.r,
        citation=CITATION,
        sections=["mdt_decisions"],
        purpose="mdt_case_review",
        minors_only=False,
        actor=make.user(db, team.r, Role.AGENCY_LEAD),
        keys=keys,
        at=make.AT,
    )
    assert isinstance(_decisions(db, keys, team, team.b), Released)
    (row,) = _accounting(db, team, team.r).rows
    assert row.entry.release_ref is None and row.legal_basis == CITATION
    assert basis.public_id in json.loads(row.entry.detail)["legal_basis"]
    assert row.actor_agency_name == team.b.name
    assert [e.section_key for e in _relied(db, team.a)] == ["mdt_decisions"]
    assert all(report.ok for report in verify_all(db))
