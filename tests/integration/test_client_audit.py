"""Own staff opening a client's record is logged, like any other read of survivor data."""

from disclosure_helpers import SIGNER, release, world
from sqlmodel import select

from portal.models import AuditEntry, Role
from portal.services import clients

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


def _views(db, agency_id):
    return db.exec(
        select(AuditEntry)
        .where(AuditEntry.agency_id == agency_id)
        .where(AuditEntry.tag.in_(["record:client:identity_viewed", "disclosure:section:withheld"]))
        .order_by(AuditEntry.id)
    ).all()


def test_each_name_the_client_list_and_search_show_is_audited(client, db, keys):
    """The list decrypts the names on its page, and a search the names it finds: each is a
    read of that client's identity, in the agency's log as opening the client is. They
    were shown without a trace before."""
    agency = make.agency(db, keys)
    found = make.client_record(db, agency, keys, given="Sparrow", family="Synthetic")
    other = make.client_record(db, agency, keys, given="Wren", family="Synthetic")
    user = make.user(db, agency, Role.ADVOCATE)
    make.login(client, user.username)

    listed = client.get("/clients")
    assert listed.status_code == 200 and "Sparrow" in listed.text and "Wren" in listed.text
    entries = _views(db, agency.id)
    assert sorted(e.subject for e in entries) == sorted([found.public_id, other.public_id])
    for entry in entries:
        assert entry.tag == "record:client:identity_viewed" and entry.section_key == "identity"
        assert entry.client_ref == entry.subject and entry.actor_user_ref == user.public_id
        assert '"shown_in":"client list"' in entry.detail

    typed = {"given_name": "Sparrow", "family_name": "Synthetic", "birth_date": "2000-05-17"}
    searched = client.post(
        "/clients/search", data={"csrf_token": make.csrf_from(listed.text), **typed}
    )
    assert searched.status_code == 200 and "Wren" not in searched.text
    # Posted, never in an address: what was typed is in no URL the browser keeps.
    assert 'method="post" action="/clients/search"' in listed.text
    (seen,) = _views(db, agency.id)[len(entries) :]
    assert (seen.subject, seen.client_ref) == (found.public_id, found.public_id)
    assert '"shown_in":"client search"' in seen.detail
    # What was typed is never logged: the entries name the client by reference only.
    assert all("Sparrow" not in e.detail for e in _views(db, agency.id))


def test_a_role_kept_from_names_sees_references_and_the_list_is_audited_once(client, db, keys):
    agency = make.agency(db, keys)
    make.client_record(db, agency, keys, given="Sparrow", family="Synthetic")
    make.client_record(db, agency, keys, given="Wren", family="Synthetic")
    make.login(client, make.user(db, agency, Role.AGENCY_LEAD).username)
    listed = client.get("/clients")
    assert listed.status_code == 200 and "Sparrow" not in listed.text
    # The page says why (it read "withheld from you: ." before).
    assert (
        "withheld from you: the disclosure policy does not release identity to your "
        "agency&#39;s own staff in the role agency lead" in listed.text
    )
    (entry,) = _views(db, agency.id)
    assert (entry.tag, entry.gate, entry.subject) == (
        "disclosure:section:withheld",
        "policy",
        "client list",
    )
    assert entry.client_ref is None


def test_a_signed_releases_pages_and_files_are_reads_of_the_clients_identity(client, db, keys):
    """A signed release names who signed it: its page, its printed form and its files are
    each audited as a read of the client's identity, and a refused download too."""
    w = world(db, keys)
    row = release(db, keys, w, ["medical"])
    make.login(client, make.user(db, w.owner, Role.ADVOCATE).username)
    url = f"/releases/{row.public_id}"
    assert SIGNER.name in client.get(url).text
    assert SIGNER.name in client.get(f"{url}/print").text
    assert client.get(f"{url}/signed.json").status_code == 200
    entries = _views(db, w.owner.id)
    assert [e.subject for e in entries] == [row.public_id] * 3
    assert [e.detail.split('"shown_in":')[1] for e in entries] == [
        '"release page"}',
        '"release form to print"}',
        '"signed release file"}',
    ]
    assert {(e.tag, e.client_ref) for e in entries} == {
        ("record:client:identity_viewed", w.client.public_id)
    }

    client.cookies.clear()
    make.login(client, make.user(db, w.owner, Role.AGENCY_LEAD).username)
    assert SIGNER.name not in client.get(url).text
    assert client.get(f"{url}/signed.json").status_code == 403
    refused = _views(db, w.owner.id)[3:]
    assert [(e.tag, e.gate) for e in refused] == [("disclosure:section:withheld", "policy")] * 2


def _register(client, **typed):
    token = make.csrf_of_page(client, "/clients/new")  # a page that shows no name
    person = {"reference": "REF-1", "preferred_language": "en", **typed}
    return client.post("/clients", data={"csrf_token": token, **person})


def test_registering_someone_already_a_client_is_an_audited_read_of_their_name(client, db, keys):
    """The refusal ("already has a client with this name and birth date") answers whether
    the agency serves that person, as a search does: it is audited as a search that found
    them is, and kept through the 409. It was not audited before."""
    agency = make.agency(db, keys)
    found = make.client_record(db, agency, keys, given="Sparrow", family="Synthetic")
    user = make.user(db, agency, Role.ADVOCATE)
    make.login(client, user.username)
    before = len(_views(db, agency.id))
    refused = _register(
        client, given_name="sparrow", family_name="SYNTHETIC", birth_date="2000-05-17"
    )
    assert refused.status_code == 409 and "already has a client" in refused.text
    (seen,) = _views(db, agency.id)[before:]
    assert (seen.tag, seen.subject, seen.client_ref) == (
        "record:client:identity_viewed",
        found.public_id,
        found.public_id,
    )
    assert seen.actor_user_ref == user.public_id
    assert '"shown_in":"registration: already a client"' in seen.detail
    assert "sparrow" not in seen.detail.casefold()  # nothing typed is logged
    assert clients.count_clients(db, agency) == 1


def test_a_role_kept_from_names_cannot_register_a_client_so_trying_tells_it_nothing(
    client, db, keys
):
    """A role the agency keeps from its clients' names could not search for a name, but
    could register one and read "already has a client" (409) or be let through: a name
    lookup, unaudited. Now it cannot register anyone, client or not: the same 403 either
    way, and no form or link to one."""
    agency = make.agency(db, keys)
    make.client_record(db, agency, keys, given="Sparrow", family="Synthetic")
    make.login(client, make.user(db, agency, Role.AGENCY_LEAD).username)
    assert "/clients/new" not in client.get("/clients").text
    form = client.get("/clients/new")
    assert form.status_code == 403 and 'action="/clients"' not in form.text
    assert "cannot register a client" in form.text
    known = _register(
        client, given_name="Sparrow", family_name="Synthetic", birth_date="2000-05-17"
    )
    unknown = _register(
        client, given_name="Finch", family_name="Synthetic", birth_date="2001-02-03"
    )
    assert known.status_code == unknown.status_code == 403
    for answer in (known, unknown):
        assert "cannot register a client" in answer.text and "already" not in answer.text
    assert clients.count_clients(db, agency) == 1
