"""The client list's names: a page of clients opened with one read of the agency's data key
(per key id), not one per client, and every name it opens audited in one batch."""

from portal.models import Role
from portal.requester import Requester
from portal.services import clients

import factories as make
from databases import counted


def _list_page(db, keys, count):
    agency = make.agency(db, keys)
    rows = [
        make.client_record(db, agency, keys, given=f"Wren{number}", family="Synthetic")
        for number in range(count)
    ]
    requester = Requester.of(make.user(db, agency, Role.ADVOCATE), agency, {Role.ADVOCATE.value})
    names = clients.may_read_identity(db, agency, requester=requester)
    db.flush()
    with counted(db) as statements:
        shown = clients.listed_identities(
            db, names, rows, requester=requester, keys=keys, at=make.AT, shown_in="client list"
        )
    assert [person.given_name for person in shown] == [f"Wren{n}" for n in range(count)]
    return statements


def test_a_page_of_names_reads_its_data_key_once_whatever_its_length(db, keys):
    few, many = _list_page(db, keys, 2), _list_page(db, keys, 12)
    key_reads = [s for s in many if "agency_key" in s.lower()]
    assert len(key_reads) <= 1, key_reads
    assert len(many) == len(few)
