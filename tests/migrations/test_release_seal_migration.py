"""Releases, revocations and restricted persons written before their documents and names
were sealed keep them as they were through the migration (read in clear until `portal keys
reseal` seals them), and the migration is undone only while nothing is sealed: a downgrade
would lose a sealed document for good. Synthetic data only."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from portal import migrate

BEFORE = "fd4dda75936a"
SEALED = "9e4b7c2a5d13"
DOCUMENT = '{"release": {"signer": {"name": "Robin Example"}}, "signature": {"kid": "k-sign"}}'
REVOCATION = '{"revocation": {"reason": "Asked by Dana Synthetic"}}'


def _rows_before(engine) -> None:
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    stamp = at if engine.dialect.name == "postgresql" else at.replace(tzinfo=None)
    statements = [
        "INSERT INTO node (id, name, base_url, is_local, created_at)"
        " VALUES (1, 'node', 'http://localhost', true, :at)",
        "INSERT INTO agency (id, public_id, name, kind, discipline, node_id, requires_totp,"
        " is_active, created_at) VALUES (1, 'a-1', 'Agency', 'community', 'advocacy', 1,"
        " false, true, :at)",
        "INSERT INTO client (id, public_id, agency_id, reference, key_id, identity_sealed,"
        " search_digest, created_at) VALUES (1, 'c-1', 1, 'R-1', 'k', :sealed, 'd', :at)",
        "INSERT INTO consent_release (id, public_id, agency_id, client_id, state, purpose,"
        " effective_at, ends_at, document, key_id, created_at)"
        " VALUES (1, 'r-1', 1, 1, 'signed', 'mdt_case_review', :at, :at, :document,"
        " 'k-sign', :at)",
        "INSERT INTO release_revocation (id, public_id, release_id, revoked_at, document,"
        " reason) VALUES (1, 'v-1', 1, :at, :revocation, 'Asked by Dana Synthetic')",
        "INSERT INTO restricted_person (id, public_id, client_id, name, reason, note,"
        " created_at) VALUES (1, 'p-1', 1, 'Dana Suspect', 'other', 'Seen.', :at)",
    ]
    values = {"at": stamp, "sealed": b"x", "document": DOCUMENT, "revocation": REVOCATION}
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), values)


def _kept(engine) -> tuple:
    with engine.connect() as connection:
        return (
            connection.execute(
                text("SELECT document, key_id, document_sealed, data_key_id FROM consent_release")
            ).one(),
            connection.execute(
                text("SELECT document, reason, document_sealed FROM release_revocation")
            ).one(),
            connection.execute(
                text("SELECT name, note, details_sealed, data_key_id FROM restricted_person")
            ).one(),
        )


def test_rows_written_before_keep_their_documents_and_names_in_clear(engine_before):
    _rows_before(engine_before)
    migrate.upgrade(engine_before)
    release, revocation, person = _kept(engine_before)
    assert tuple(release) == (DOCUMENT, "k-sign", None, None)  # key_id: still the signing key
    assert tuple(revocation) == (REVOCATION, "Asked by Dana Synthetic", None)
    assert tuple(person) == ("Dana Suspect", "Seen.", None, None)
    # nothing sealed yet: undone and done again, nothing lost
    migrate.downgrade(engine_before, BEFORE)
    migrate.upgrade(engine_before)
    assert _kept(engine_before) == (release, revocation, person)


def test_the_migration_is_not_undone_over_a_sealed_document(engine_before):
    _rows_before(engine_before)
    migrate.upgrade(engine_before, SEALED)  # not head: a later revision's undoing is its own
    with engine_before.begin() as connection:
        connection.execute(
            text(
                "UPDATE consent_release SET document = '', document_sealed = :s, data_key_id = 'k'"
            ),
            {"s": b"B1sealed"},
        )
    with pytest.raises(Exception, match="sealed rows that this downgrade would lose"):
        migrate.downgrade(engine_before, BEFORE)
    with engine_before.connect() as connection:
        assert (
            bytes(
                connection.execute(text("SELECT document_sealed FROM consent_release")).scalar_one()
            )
            == b"B1sealed"
        )
    assert migrate.current_revision(engine_before) == SEALED
