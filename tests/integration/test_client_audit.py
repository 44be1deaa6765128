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


def test_the_record_shown_again_beside_a_bad_form_keeps_its_reads(client, db, keys):
    """A failed form on the client's record answers 400 with the record, the name
    decrypted, shown again: the reads of it are logged like any other, 4xx or not."""
    agency = make.agency(db, keys)
    record = make.client_record(db, agency, keys, given="Sparrow", family="Synthetic")
    user = make.user(db, agency, Role.ADVOCATE)
    make.login(client, user.username)
    url = f"/clients/{record.public_id}"
    token = make.csrf_of_page(client, url)
    viewed = select(AuditEntry).where(AuditEntry.tag == "record:client:identity_viewed")
    before = len(db.exec(viewed).all())
    page = client.post(f"{url}/restricted-persons", data={"csrf_token": token, "name": ""})
    assert page.status_code == 400 and "Sparrow" in page.text
    assert len(db.exec(viewed).all()) == before + 2  # the name, and the address apart
