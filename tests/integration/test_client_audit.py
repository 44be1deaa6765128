"""Own staff opening a client's record is logged, like any other read of survivor data."""

from sqlmodel import select

from portal.models import AuditEntry, Role

import factories as make


def test_opening_a_client_is_audited_in_the_owners_log(client, db, keys):
    agency = make.agency(db, keys)
    record = make.client_record(db, agency, keys)
    user = make.user(db, agency, Role.ADVOCATE)
    make.login(client, user.username)
    assert client.get(f"/clients/{record.public_id}").status_code == 200
    entries = db.exec(
        select(AuditEntry).where(AuditEntry.tag == "record:client:identity_viewed")
    ).all()
    # The name and, apart from it, the address and safe contact: each read its own entry.
    assert sorted(e.section_key for e in entries) == ["identity", "safe_contact"]
    for entry in entries:
        assert entry.agency_id == agency.id and entry.actor_user_ref == user.public_id
        assert entry.subject == record.public_id


def test_another_agency_opening_it_gets_404_and_leaves_no_view(client, db, keys):
    owner, other = make.agency(db, keys), make.agency(db, keys)
    record = make.client_record(db, owner, keys)
    make.login(client, make.user(db, other, Role.ADVOCATE).username)
    assert client.get(f"/clients/{record.public_id}").status_code == 404
    assert not db.exec(
        select(AuditEntry).where(AuditEntry.tag == "record:client:identity_viewed")
    ).first()
