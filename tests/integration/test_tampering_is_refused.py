"""What a database writer changes is noticed: by the consent gate, `portal consent verify`
and `portal audit verify`. Each test failed before its fix (found by a review).

Each test changes what a database writer can change (a row, a column) and asks whether
the portal still notices. The signed document (a release) and the hash chain with its
signed checkpoints (the audit log) are the truth; columns beside them are copies.
All data here is synthetic.
"""

from __future__ import annotations

import base64
from datetime import UTC, timedelta

import nacl.signing
from disclosure_helpers import SIGNER, release, world, write
from sqlalchemy import update
from sqlmodel import select

import consent
from portal.audit import AuditTag, chain, checkpoints, record, verify
from portal.disclosure import CONSENT_REVOKED, Withheld, disclose
from portal.disclosure.sealed_releases import revocation_text
from portal.models import (
    AgencyKey,
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
    ConsentRelease,
    ReleaseRevocation,
    Role,
)
from portal.services import audit_log, cases, release_documents, releases
from portal.services import keys as keys_service

import factories as make

LATER = make.AT + timedelta(hours=1)


# --- the consent gate: the signed document, not the row beside it ------------------------


def test_a_release_signed_for_one_client_does_not_open_another_clients_record(db, keys):
    """The row's client_id is a copy; the signed document says whose release it is. A row
    moved to another client of the same owner (one UPDATE) still released that client's
    section: the gate never compared the signed client_ref with the client asked about."""
    w = world(db, keys)
    other = make.client_record(db, w.owner, keys, given="Sky", family="Sample")
    case2 = make.mdt_case(db, w.partner)
    cases.link_client(
        db, case2, w.partner, w.partner_client, actor=None, at=make.AT, confirmed=True
    )
    cases.link_client(db, case2, w.owner, other, actor=None, at=make.AT, confirmed=True)
    w.client, mine = other, w.client
    write(db, keys, w, "medical", {"exam_done": "completed"})  # the other client's record
    w.client = mine
    row = release(db, keys, w, ["medical"])  # signed by and for the first client only
    asking = w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")
    before = disclose(db, asking, case2, w.owner, "medical", LATER, tz=UTC, keys=keys)
    assert isinstance(before, Withheld)  # the other client signed nothing
    db.execute(update(ConsentRelease).where(ConsentRelease.id == row.id).values(client_id=other.id))
    db.flush()
    db.expire_all()

    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        case2,
        w.owner,
        "medical",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert isinstance(decision, Withheld), (
        "a release whose signed client_ref names another client released this client's record"
    )


def test_a_release_another_agency_signed_does_not_open_this_owners_record(db, keys):
    """A release signed (validly) by a third agency, for its own client, moved onto the
    owner's client: the signature is good, so the gate took it, though the signed document
    names another disclosing agency and another client."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    third = make.agency(db, keys)
    third_client = make.client_record(db, third, keys)
    third_staff = make.user(db, third, Role.CASE_MANAGER)
    theirs = releases.draft_release(
        db,
        third_client,
        recipients=[w.partner.public_id],
        sections=["medical"],
        purpose="mdt_case_review",
        effective_at=make.AT,
        expiry=consent.DateExpiry(make.AT + timedelta(days=90)),
        keys=keys,
        language="en",
        actor=third_staff,
        at=make.AT,
    )
    releases.sign(
        db,
        theirs,
        signer=SIGNER,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=third_staff,
        keys=keys,
        at=make.AT,
    )
    db.flush()
    asking = w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")
    before = disclose(db, asking, w.case, w.owner, "medical", LATER, tz=UTC, keys=keys)
    assert isinstance(before, Withheld)  # the owner's client signed nothing
    db.execute(
        update(ConsentRelease)
        .where(ConsentRelease.id == theirs.id)
        .values(agency_id=w.owner.id, client_id=w.client.id)
    )
    db.flush()
    db.expire_all()

    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "medical",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert isinstance(decision, Withheld), (
        "a release signed by another agency, for its own client, released this owner's record"
    )


# --- the audit log: what `portal audit verify` reads as intact ----------------------------


def _format_1_disclosure(db, owner, viewer, client):
    """An entry as a node before entry format 2 wrote it (integer ids, hashed in format 1),
    with the public ids the 4e2b9c1d7a05 migration filled in beside them."""
    chain.append_rows(
        db,
        owner.id,
        [
            {
                "format": 1,
                "tag": str(AuditTag.DISCLOSURE_RELEASED),
                "at": make.AT,
                "actor_user_id": viewer.id,
                "actor_agency_id": viewer.agency_id,
                "actor_role": "case_manager",
                "subject": "MDT-2026-0001",
                "detail": "{}",
                "case_ref": "MDT-2026-0001",
                "client_id": client.id,
                "section_key": "mental_health",
                "purpose": "mdt_case_review",
                "decision": "released",
                "release_ref": "11111111-1111-4111-8111-111111111111",
                "policy_rule": "*, *, case_manager, mental_health, *, allow",
                # backfilled by the migration, not covered by a format-1 hash
                "actor_user_ref": viewer.public_id,
                "actor_agency_ref": db.get(type(owner), viewer.agency_id).public_id,
                "client_ref": client.public_id,
            }
        ],
    )
    db.flush()


def test_an_old_entrys_client_moved_to_another_is_not_reported_intact(db, keys):
    """Format-1 entries hash the integer client_id but not the client_ref the migration
    filled in, and the accounting of disclosures reads client_ref. One UPDATE takes a
    disclosure out of the survivor's accounting (here: moves it onto another client) and
    `verify` still says the log is intact."""
    owner = make.agency(db, keys)
    partner = make.agency(db, keys)
    viewer = make.user(db, partner, Role.CASE_MANAGER)
    client = make.client_record(db, owner, keys)
    someone_else = make.client_record(db, owner, keys, given="Sky", family="Sample")
    lead = make.user(db, owner, Role.AGENCY_LEAD)
    _format_1_disclosure(db, owner, viewer, client)
    assert verify.verify_log(db, owner.public_id).ok
    accounted = audit_log.accounting(db, owner, client.public_id, actor=lead, at=LATER)
    assert len(accounted.rows) == 1  # the survivor's accounting lists the disclosure

    db.execute(
        update(AuditEntry)
        .where(AuditEntry.log_key == owner.public_id, AuditEntry.format == 1)
        .values(client_ref=someone_else.public_id)
    )
    db.flush()
    db.expire_all()

    accounted = audit_log.accounting(db, owner, client.public_id, actor=lead, at=LATER)
    assert accounted.rows == []  # gone from the survivor's accounting...
    report = verify.verify_log(db, owner.public_id)
    assert not report.ok, "...and verify reports the log intact: " + report.line()


def test_an_old_entrys_outside_viewer_relabelled_as_own_staff_is_not_reported_intact(db, keys):
    """The same hole through actor_agency_ref: relabelling the partner that saw the record
    as the owner itself drops the disclosure from the accounting of disclosures (which
    lists releases outside the agency), and `verify` says nothing."""
    owner = make.agency(db, keys)
    partner = make.agency(db, keys)
    viewer = make.user(db, partner, Role.CASE_MANAGER)
    client = make.client_record(db, owner, keys)
    lead = make.user(db, owner, Role.AGENCY_LEAD)
    _format_1_disclosure(db, owner, viewer, client)
    assert verify.verify_log(db, owner.public_id).ok

    db.execute(
        update(AuditEntry)
        .where(AuditEntry.log_key == owner.public_id, AuditEntry.format == 1)
        .values(actor_agency_ref=owner.public_id)
    )
    db.flush()
    db.expire_all()

    accounted = audit_log.accounting(db, owner, client.public_id, actor=lead, at=LATER)
    assert accounted.rows == []
    report = verify.verify_log(db, owner.public_id)
    assert not report.ok, "verify reports the log intact: " + report.line()


def test_a_checkpoint_signed_after_its_key_was_retired_is_not_verified(db, keys):
    """A rotation retires the old signing key (as one does when it may be known to someone
    else). A checkpoint signed with that key, dated after the retirement, over entries
    written after it, is counted as verified: `verify` never reads the key's retired_at,
    though a release signed after its key's retirement is refused (consent KEY_RETIRED)."""
    owner = make.agency(db, keys)
    old = checkpoints.signing_key_row(db, owner.id)
    old_secret = keys.unwrap(old.wrapped_secret)
    for n in range(3):
        record(db, AuditTag.SIGNED_OUT, agency_id=owner.id, subject=f"before-{n}", at=make.AT)
    retired_at = make.AT + timedelta(hours=1)
    keys_service.rotate_signing_key(db, owner, keys=keys, actor=None, at=retired_at)
    for n in range(3):
        record(db, AuditTag.SIGNED_OUT, agency_id=owner.id, subject=f"after-{n}", at=LATER)
    db.flush()
    head = db.get(AuditHead, owner.public_id)
    signed_at = retired_at + timedelta(hours=2)
    signature = (
        nacl.signing.SigningKey(old_secret)
        .sign(checkpoints.payload(owner.public_id, head.last_seq, head.last_hash, signed_at))
        .signature
    )
    db.add(
        AuditCheckpoint(
            log_key=owner.public_id,
            agency_id=owner.id,
            seq=head.last_seq,
            entry_hash=head.last_hash,
            at=signed_at,
            key_id=old.key_id,
            signature=base64.b64encode(signature).decode(),
        )
    )
    db.execute(
        update(AuditHead)
        .where(AuditHead.log_key == owner.public_id)
        .values(checkpoint_seq=head.last_seq)
    )
    db.flush()
    db.expire_all()
    assert db.get(AgencyKey, old.id).retired_at == retired_at

    report = verify.verify_log(db, owner.public_id)
    assert not report.ok, (
        "a checkpoint signed with a key retired before it was signed verified: " + report.line()
    )


def _cli_node(tmp_path, monkeypatch):
    """A migrated SQLite node with one agency, configured through the environment."""
    from portal import migrate
    from portal.cli import main as cli
    from portal.db import make_engine

    path = tmp_path / "node.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal.jsonl"))
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    name = "Alder Advocacy (synthetic)"
    assert (
        cli.main(
            ["agency", "create", "--name", name, "--kind", "community", "--discipline", "advocacy"]
        )
        == 0
    )
    return cli, name


def test_a_truncated_journal_is_not_reported_intact(tmp_path, monkeypatch, capsys):
    """The journal is the copy of every signed checkpoint kept outside the database. Cut
    back by its last line while the database still holds the signed checkpoint it lost,
    `portal audit verify` says OK: it checks only the lines that are left, and never asks
    whether each checkpoint the database holds after the journal's first line is in it."""
    cli, name = _cli_node(tmp_path, monkeypatch)
    assert cli.main(["audit", "checkpoint", name]) == 0
    assert cli.main(["audit", "checkpoint", name]) == 0
    kept = tmp_path / "journal.jsonl"
    lines = kept.read_text().splitlines()
    assert len(lines) == 2
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == 0  # untouched: OK

    kept.write_text(lines[0] + "\n")  # the journal cut back by its last line
    capsys.readouterr()
    status = cli.main(["audit", "verify"])
    out = capsys.readouterr().out
    assert status == 1 and "BROKEN" in out, "a journal missing a checkpoint passed:\n" + out


def test_a_revoked_release_is_not_reported_valid_when_its_revocation_fails_to_verify(db, keys):
    """The gate treats a revocation whose signature does not verify as a revocation
    (failing closed). The verify page and `portal consent verify` (verify_upload) drop
    it instead, and tell whoever uploads the release that it is valid and in effect, while
    the owner's own gate withholds under it as revoked."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    row = release(db, keys, w, ["medical"])
    releases.revoke(db, row, reason=None, actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()
    revocation = db.exec(
        select(ReleaseRevocation).where(ReleaseRevocation.release_id == row.id)
    ).one()
    # As kept before documents were sealed (in clear), its reason changed by a writer.
    stored = revocation_text(db, revocation, row, keys=keys)
    damaged = stored.replace('"reason":null', '"reason":"x"')
    damaged = damaged.replace('"reason": null', '"reason": "x"')
    assert damaged != stored
    db.execute(
        update(ReleaseRevocation)
        .where(ReleaseRevocation.id == revocation.id)
        .values(document=damaged, document_sealed=None, data_key_id=None)
    )
    db.flush()
    db.expire_all()
    at = LATER + timedelta(minutes=5)
    gate = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "medical",
        at,
        tz=UTC,
        keys=keys,
    )
    assert isinstance(gate, Withheld) and gate.gate == CONSENT_REVOKED  # the owner's gate

    uploaded = release_documents.signed_envelope_bytes(
        db, db.get(ConsentRelease, row.id), keys=keys
    )
    report = release_documents.verify_upload(db, uploaded, at=at, tz=UTC, keys=keys)
    assert not report.valid, "verify_upload: " + report.summary
