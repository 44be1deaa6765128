"""What a request reads many times (an agency by public id, whether a node is this one) is
read once per transaction, and read afresh by the next transaction: a change another writer
commits (a node no longer this one) counts from the next transaction on."""

import pytest
from sqlalchemy import event
from sqlmodel import Session

from portal import hosting
from portal.db import unit_of_work
from portal.disclosure import RequestCache
from portal.federation import membership
from portal.models import Agency, Node

import factories as make
from databases import BACKENDS, migrated_engine


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    with migrated_engine(request.param, tmp_path) as engine:
        yield engine


def _agency_reads(engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def note(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM agency" in statement:
            seen.append(statement)

    return seen


def test_an_agency_is_read_once_per_transaction_and_again_by_the_next(committed_engine, keys):
    with unit_of_work(committed_engine) as db:
        public_id = make.agency(db, keys).public_id
    reads = _agency_reads(committed_engine)
    with Session(committed_engine, expire_on_commit=False) as db:
        first = RequestCache().agency(db, public_id)
        assert RequestCache().agency(db, public_id) is first  # another cache, same read
        assert len(reads) == 1
        db.commit()
        RequestCache().agency(db, public_id)
        assert len(reads) == 2  # the next transaction reads it again


def test_a_node_that_is_no_longer_this_one_counts_from_the_next_transaction(committed_engine, keys):
    with unit_of_work(committed_engine) as db:
        agency_id = make.agency(db, keys).id
    with Session(committed_engine, expire_on_commit=False) as db:
        agency = db.get(Agency, agency_id)
        assert membership.is_local(db, agency)
        with unit_of_work(committed_engine) as other:  # another writer, committed
            other.get(Node, agency.node_id).is_local = False
        assert membership.is_local(db, agency)  # this transaction read it once already
        db.commit()
        assert not membership.is_local(db, agency)


def test_an_agency_whose_node_this_node_does_not_know_is_not_hosted_here(committed_engine):
    """The disclosure point and the transport ask the same question the same way: an
    agency this node cannot place is not one whose records it claims to hold."""
    with Session(committed_engine) as db:
        unplaced = Agency(name="Nowhere", kind="x", discipline="x", node_id=999)
        assert not hosting.is_local(db, unplaced)
        assert membership.is_local is hosting.is_local
